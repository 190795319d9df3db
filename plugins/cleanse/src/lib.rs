//! `cleanse` stage plugin (being written).
