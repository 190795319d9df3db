//! CSV → Arrow ingestion (being written).
