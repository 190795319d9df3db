//! `aggregate` stage plugin (being written).
