//! `validate` stage plugin (being written).
