//! Deterministic sample data (being written).
