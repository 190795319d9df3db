//! Deterministic sample data for the e-commerce pipeline (`config/ecommerce.yaml`):
//! `customers.csv`, `products.csv` and `orders.csv` of any size, dirty in the ways the spec lists,
//! with an exact count of every defect. `host generate-data` writes them with [`generate`] and
//! prints the [`SampleSummary`].
//!
//! The same [`SampleSpec`] always gives the same bytes: the generator draws from SplitMix64
//! streams derived from the seed (no external RNG crate whose output could change), never from
//! the clock, the environment or hash-map order.
//!
//! # Sizes
//!
//! `ceil(orders / 20)` customers (at least 1), `max(50, ceil(orders / 500))` products, and order
//! dates uniform over 2023-01-01..=2024-12-31. Customers sign up in 2019..=2024.
//!
//! # Defects
//!
//! Every kind hits exactly `round(rate × rows)` rows (half away from zero), chosen uniformly and
//! independently of the other kinds, so one row can carry several. The summary names kinds as
//! below.
//!
//! | file | kind | rate | what the row holds |
//! | --- | --- | --- | --- |
//! | orders | `null_customer_id` | 1% | an empty `customer_id` |
//! | orders | `null_order_id` | 0.2% | an empty `order_id` |
//! | orders | `quantity_out_of_range` | 1% | `quantity` 0, -1..=-10 or 1001..=10000 |
//! | orders | `unit_price_out_of_range` | 0.5% | `unit_price` 0.00, negative, or over 100000 (still a valid decimal(10,2)) |
//! | orders | `duplicate_order_id` | 1% | the `order_id` of an earlier row, with other values of its own |
//! | orders | `stray_spaces` | 3% | spaces or tabs around one of `order_id`, `customer_id`, `product_id` |
//! | orders | `unknown_product_id` | 0.5% | a `product_id` that `products.csv` doesn't have |
//! | orders | `invalid_date` | 0.2% | an `order_date` shaped `YYYY-MM-DD` that is no calendar date |
//! | orders | `unparseable_number` | 0.1% | text such as `abc` in `quantity` or `12.3x` in `unit_price` |
//! | orders | `wrong_field_count` | 0.05% | 5 or 7 fields instead of 6 |
//! | customers | `duplicate_customer_id` | 0.2% | an extra row repeating an earlier `customer_id`, with another email |
//! | customers | `stray_spaces` | 0.5% | spaces or tabs around `customer_id` |
//! | customers | `invalid_signup_date` | 0.1% | a `signup_date` that is no calendar date |
//! | products | `duplicate_product_id` | 1% | an extra row repeating an earlier `product_id`, at another price |
//! | products | `stray_spaces` | 2% | spaces or tabs around `product_id` |
//! | products | `unparseable_list_price` | 1% | text such as `N/A` in `list_price` |
//!
//! Dimension rates apply to the number of customers or products; their duplicates are extra rows,
//! so a dimension file has `customers + duplicate_customer_id` rows. Where two kinds meet on one
//! field, the choice is fixed so every counted defect stays visible in the bytes:
//!
//! - A duplicate copies the id of an earlier row whose `order_id` is neither null nor itself a
//!   duplicate (so it repeats a first occurrence), and rows with a null `order_id` are never
//!   chosen as duplicates. Its `order_date` always differs from the copied row's.
//! - Stray spaces go around a field that is not null (`product_id` never is).
//! - An unparseable number goes in a numeric field that is not out of range; rows with both
//!   numbers out of range are never chosen for it.
//! - A wrong field count drops the last field (`order_date`) or appends one; a row with an
//!   invalid date always gets the extra field, so its date stays. The first five fields keep
//!   their positions either way.
//!
//! What the pipeline quarantines differs from these counts by its precedence (a row with a parse
//! error is not validated, a duplicate of a quarantined row is kept), not by chance.
//!
//! Names with a comma (`"Smith, Jane"`) or a quote exercise RFC 4180 quoting; lines end in LF.

mod csv;
mod dims;
mod orders;
mod rng;
mod vocab;

#[cfg(test)]
mod tests;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde::ser::SerializeMap;

/// The file names [`generate`] writes.
pub const CUSTOMERS_FILE: &str = "customers.csv";
pub const PRODUCTS_FILE: &str = "products.csv";
pub const ORDERS_FILE: &str = "orders.csv";

/// What to generate: a number of orders and the seed that fixes every byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSpec {
    pub orders: u64,
    pub seed: u64,
}

impl SampleSpec {
    /// Distinct customers: one per 20 orders, rounded up, at least 1.
    pub fn customers(&self) -> u64 {
        self.orders.div_ceil(20).max(1)
    }

    /// Distinct products: one per 500 orders, rounded up, at least 50.
    pub fn products(&self) -> u64 {
        self.orders.div_ceil(500).max(50)
    }
}

/// What [`generate`] wrote: printed as JSON by `host generate-data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampleSummary {
    pub seed: u64,
    pub orders: u64,
    /// Distinct customer ids in `customers.csv`.
    pub customers: u64,
    /// Distinct product ids in `products.csv`.
    pub products: u64,
    /// `customers.csv`, `products.csv`, `orders.csv`, in that order.
    pub files: Vec<FileSummary>,
}

impl SampleSummary {
    /// The summary of one file, by name (`orders.csv`).
    pub fn file(&self, name: &str) -> Option<&FileSummary> {
        self.files.iter().find(|file| file.file == name)
    }
}

/// One generated file: its data rows (the header not counted) and its defects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    pub file: &'static str,
    pub rows: u64,
    pub defects: DefectCounts,
}

/// Rows per defect kind, by stable snake_case name, in the order of the module's table.
/// Serializes as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DefectCounts(Vec<(&'static str, u64)>);

impl DefectCounts {
    /// The number of rows carrying `kind`, if the file has that kind.
    pub fn get(&self, kind: &str) -> Option<u64> {
        self.0.iter().find(|(name, _)| *name == kind).map(|&(_, count)| count)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.0.iter().copied()
    }

    fn of(kinds: &[Kind], sets: &[Vec<u64>]) -> Self {
        DefectCounts(kinds.iter().zip(sets).map(|(kind, rows)| (kind.name, rows.len() as u64)).collect())
    }
}

impl Serialize for DefectCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, count) in &self.0 {
            map.serialize_entry(name, count)?;
        }
        map.end()
    }
}

/// A defect kind of one file: its name and its rate in parts per 10,000 rows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    pub name: &'static str,
    pub per_10k: u64,
}

impl Kind {
    const fn new(name: &'static str, per_10k: u64) -> Self {
        Kind { name, per_10k }
    }

    /// `round(rate × rows)`, half away from zero.
    fn count(&self, rows: u64) -> u64 {
        rng::count_at_rate(self.per_10k, rows)
    }
}

/// Writes `customers.csv`, `products.csv` and `orders.csv` into `dir` (created if missing,
/// existing files replaced). The same spec always gives the same bytes.
///
/// Memory stays flat in the number of orders apart from the sorted row indices of the defects
/// (about 9% of the orders, 8 bytes each) and one list price per product.
///
/// ```no_run
/// use sample_data::{SampleSpec, generate};
///
/// let summary = generate(&SampleSpec { orders: 10_000, seed: 42 }, "data".as_ref())?;
/// assert_eq!(summary.customers, 500);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn generate(spec: &SampleSpec, dir: &Path) -> io::Result<SampleSummary> {
    fs::create_dir_all(dir).map_err(|error| at(dir, error))?;
    let customers =
        write_file(&dir.join(CUSTOMERS_FILE), |out| dims::write_customers(spec.seed, spec.customers(), out))?;
    let (products, list_prices) =
        write_file(&dir.join(PRODUCTS_FILE), |out| dims::write_products(spec.seed, spec.products(), out))?;
    let orders = write_file(&dir.join(ORDERS_FILE), |out| {
        orders::write_orders(spec.seed, spec.orders, spec.customers(), &list_prices, out)
    })?;
    Ok(SampleSummary {
        seed: spec.seed,
        orders: spec.orders,
        customers: spec.customers(),
        products: spec.products(),
        files: vec![customers, products, orders],
    })
}

/// Creates `path` and runs `body` on a buffered writer to it; an error names the path.
fn write_file<T>(path: &Path, body: impl FnOnce(&mut BufWriter<File>) -> io::Result<T>) -> io::Result<T> {
    let write = || {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let value = body(&mut out)?;
        out.flush()?;
        Ok(value)
    };
    write().map_err(|error| at(path, error))
}

fn at(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}
