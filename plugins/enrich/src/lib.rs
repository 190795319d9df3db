//! `enrich` stage plugin (being written).
