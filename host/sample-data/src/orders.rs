//! `orders.csv`: the fact rows, and the ten defect kinds the spec lists at their exact counts.

use std::io::{self, Write};

use super::csv::{self, push_cents, push_id, push_int, push_text};
use super::dims::{CUSTOMER_ID_WIDTH, PRODUCT_ID_WIDTH};
use super::rng::{Cursor, RowStreams, SplitMix64, contains, sample_sorted, stream};
use super::vocab::{BAD_DECIMALS, BAD_INTEGERS, DISCOUNTS, EXTRA_FIELDS, INVALID_ORDER_DATES, STRAY_PADDING};
use super::{DefectCounts, FileSummary, Kind, ORDERS_FILE};

pub(crate) const ORDER_HEADER: &str = "order_id,customer_id,product_id,quantity,unit_price,order_date";

/// Digits in an order id (`O0000001`); larger numbers get more.
const ORDER_ID_WIDTH: usize = 7;

/// Order dates fall in these years.
const ORDER_YEARS: (u16, u16) = (2023, 2024);

/// Defect kinds, in the spec's order. The index is the kind's selection stream, and kinds are
/// selected in index order (a kind may avoid rows an earlier one took).
const NULL_CUSTOMER_ID: usize = 0;
const NULL_ORDER_ID: usize = 1;
const QUANTITY_OUT_OF_RANGE: usize = 2;
const UNIT_PRICE_OUT_OF_RANGE: usize = 3;
const DUPLICATE_ORDER_ID: usize = 4;
const STRAY_SPACES: usize = 5;
const UNKNOWN_PRODUCT_ID: usize = 6;
const INVALID_DATE: usize = 7;
const UNPARSEABLE_NUMBER: usize = 8;
const WRONG_FIELD_COUNT: usize = 9;
const KINDS: [Kind; 10] = [
    Kind::new("null_customer_id", 100),
    Kind::new("null_order_id", 20),
    Kind::new("quantity_out_of_range", 100),
    Kind::new("unit_price_out_of_range", 50),
    Kind::new("duplicate_order_id", 100),
    Kind::new("stray_spaces", 300),
    Kind::new("unknown_product_id", 50),
    Kind::new("invalid_date", 20),
    Kind::new("unparseable_number", 10),
    Kind::new("wrong_field_count", 5),
];

/// For each kind, the sorted rows of `0..rows` it hits.
fn select(seed: u64, rows: u64) -> Vec<Vec<u64>> {
    let mut sets: Vec<Vec<u64>> = Vec::with_capacity(KINDS.len());
    for (index, kind) in KINDS.iter().enumerate() {
        let mut rng = SplitMix64::stream(seed, stream::ORDER_DEFECTS + index as u64);
        let count = kind.count(rows);
        let set = match index {
            DUPLICATE_ORDER_ID => {
                // A duplicate needs an earlier row with an id, and an id of its own to replace.
                let nulls = &sets[NULL_ORDER_ID];
                let first_with_id = nulls.iter().zip(0..).take_while(|&(&row, index)| row == index).count() as u64;
                sample_sorted(&mut rng, count, first_with_id + 1, rows, nulls)
            }
            UNPARSEABLE_NUMBER => {
                // It needs a numeric field whose out-of-range value it would not hide.
                let both = intersection(&sets[QUANTITY_OUT_OF_RANGE], &sets[UNIT_PRICE_OUT_OF_RANGE]);
                sample_sorted(&mut rng, count, 0, rows, &both)
            }
            _ => sample_sorted(&mut rng, count, 0, rows, &[]),
        };
        sets.push(set);
    }
    sets
}

fn intersection(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().copied().filter(|&row| contains(b, row)).collect()
}

/// What every order draws first from its row stream, so any row can be re-drawn alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Base {
    customer: u64,
    product: u64,
    quantity: i64,
    unit_price: i64,
    day: usize,
}

/// The generator's context: everything a row needs to be drawn.
#[derive(Debug)]
struct Orders<'a> {
    rows: RowStreams,
    customers: u64,
    list_prices: &'a [u64],
    days: Vec<[u8; 10]>,
}

impl Orders<'_> {
    /// Row `index`'s base values, and its stream positioned after them.
    fn base(&self, index: u64) -> (Base, SplitMix64) {
        let mut rng = self.rows.at(index);
        let customer = rng.range(1, self.customers);
        let product = rng.range(1, self.list_prices.len() as u64);
        let quantity = match rng.below(100) {
            0..40 => 1,
            40..60 => 2,
            60..72 => 3,
            72..80 => 4,
            80..85 => 5,
            85..95 => rng.range(6, 10),
            _ => rng.range(11, 50),
        } as i64;
        let discount = rng.pick(&DISCOUNTS);
        let list_price = self.list_prices[product as usize - 1];
        let unit_price = ((list_price * (100 - discount) + 50) / 100) as i64;
        let day = rng.below(self.days.len() as u64) as usize;
        (Base { customer, product, quantity, unit_price, day }, rng)
    }

    /// Row `index` as written: its base values with the defects that `hit` it applied, in kind
    /// order, each drawing from the row's stream only when it hits.
    fn line(&self, index: u64, hit: &[bool; KINDS.len()], sets: &[Vec<u64>]) -> Line {
        let (base, mut rng) = self.base(index);
        let mut line = Line {
            order_id: (!hit[NULL_ORDER_ID]).then_some(index + 1),
            customer_id: (!hit[NULL_CUSTOMER_ID]).then_some(base.customer),
            product_id: base.product,
            quantity: Field::Value(base.quantity),
            unit_price: Field::Value(base.unit_price),
            order_date: Field::Value(base.day),
            padding: [NO_PADDING; 3],
            shape: Shape::Complete,
        };
        if hit[QUANTITY_OUT_OF_RANGE] {
            line.quantity = Field::Value(match rng.below(3) {
                0 => 0,
                1 => -(rng.range(1, 10) as i64),
                _ => rng.range(1_001, 10_000) as i64,
            });
        }
        if hit[UNIT_PRICE_OUT_OF_RANGE] {
            line.unit_price = Field::Value(match rng.below(3) {
                0 => 0,
                1 => -(rng.range(1, 50_000) as i64),
                _ => rng.range(10_000_001, 999_999_999) as i64,
            });
        }
        if hit[DUPLICATE_ORDER_ID] {
            let source = loop {
                let row = rng.below(index);
                if !contains(&sets[NULL_ORDER_ID], row) && !contains(&sets[DUPLICATE_ORDER_ID], row) {
                    break row;
                }
            };
            line.order_id = Some(source + 1);
            let (original, _) = self.base(source);
            if original.day == base.day {
                let day = if base.day + 1 < self.days.len() { base.day + 1 } else { base.day - 1 };
                line.order_date = Field::Value(day);
            }
        }
        if hit[STRAY_SPACES] {
            let fields = [line.order_id.is_some(), line.customer_id.is_some(), true];
            let present = fields.iter().filter(|&&present| present).count();
            let nth = rng.below(present as u64) as usize;
            let field = (0..3).filter(|&field| fields[field]).nth(nth).expect("product_id is never null");
            line.padding[field] = rng.pick(STRAY_PADDING);
        }
        if hit[UNKNOWN_PRODUCT_ID] {
            line.product_id = self.list_prices.len() as u64 + rng.range(1, 1_000);
        }
        if hit[INVALID_DATE] {
            line.order_date = Field::Text(rng.pick(INVALID_ORDER_DATES));
        }
        if hit[UNPARSEABLE_NUMBER] {
            let in_quantity = match (hit[QUANTITY_OUT_OF_RANGE], hit[UNIT_PRICE_OUT_OF_RANGE]) {
                (false, false) => rng.below(2) == 0,
                (quantity_out, _) => !quantity_out,
            };
            if in_quantity {
                line.quantity = Field::Text(rng.pick(BAD_INTEGERS));
            } else {
                line.unit_price = Field::Text(rng.pick(BAD_DECIMALS));
            }
        }
        if hit[WRONG_FIELD_COUNT] {
            line.shape = if !hit[INVALID_DATE] && rng.below(2) == 0 {
                Shape::MissingLast
            } else {
                Shape::Extra(rng.pick(EXTRA_FIELDS))
            };
        }
        line
    }
}

/// A numeric or date field: its value, or text that is not one.
#[derive(Debug, Clone, Copy)]
enum Field<T> {
    Value(T),
    Text(&'static str),
}

/// How many fields the line has.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Complete,
    /// `order_date` left out.
    MissingLast,
    /// One more field, after `order_date`.
    Extra(&'static str),
}

/// One order line as it will be written, defects applied.
#[derive(Debug)]
struct Line {
    order_id: Option<u64>,
    customer_id: Option<u64>,
    product_id: u64,
    quantity: Field<i64>,
    unit_price: Field<i64>,
    order_date: Field<usize>,
    /// Stray whitespace before and after `order_id`, `customer_id`, `product_id`.
    padding: [(&'static str, &'static str); 3],
    shape: Shape,
}

const NO_PADDING: (&str, &str) = ("", "");

impl Line {
    fn write(&self, days: &[[u8; 10]], line: &mut Vec<u8>) {
        fn id(line: &mut Vec<u8>, padding: (&str, &str), prefix: u8, number: Option<u64>, width: usize) {
            if let Some(number) = number {
                line.extend_from_slice(padding.0.as_bytes());
                push_id(line, prefix, number, width);
                line.extend_from_slice(padding.1.as_bytes());
            }
        }
        line.clear();
        id(line, self.padding[0], b'O', self.order_id, ORDER_ID_WIDTH);
        line.push(b',');
        id(line, self.padding[1], b'C', self.customer_id, CUSTOMER_ID_WIDTH);
        line.push(b',');
        id(line, self.padding[2], b'P', Some(self.product_id), PRODUCT_ID_WIDTH);
        line.push(b',');
        match self.quantity {
            Field::Value(quantity) => push_int(line, quantity),
            Field::Text(text) => push_text(line, text.as_bytes()),
        }
        line.push(b',');
        match self.unit_price {
            Field::Value(cents) => push_cents(line, cents),
            Field::Text(text) => push_text(line, text.as_bytes()),
        }
        if !matches!(self.shape, Shape::MissingLast) {
            line.push(b',');
            match self.order_date {
                Field::Value(day) => line.extend_from_slice(&days[day]),
                Field::Text(text) => push_text(line, text.as_bytes()),
            }
        }
        if let Shape::Extra(text) = self.shape {
            line.push(b',');
            push_text(line, text.as_bytes());
        }
        line.push(b'\n');
    }
}

/// Writes `orders.csv`: `count` orders `O0000001..` over customers `1..=customers` and the
/// products whose list prices are given.
pub(crate) fn write_orders(
    seed: u64,
    count: u64,
    customers: u64,
    list_prices: &[u64],
    out: &mut impl Write,
) -> io::Result<FileSummary> {
    let sets = select(seed, count);
    let mut hits: Vec<Cursor<'_>> = sets.iter().map(|rows| Cursor::new(rows)).collect();
    let orders = Orders {
        rows: RowStreams::new(seed, stream::ORDER_ROWS),
        customers,
        list_prices,
        days: csv::days(ORDER_YEARS.0, ORDER_YEARS.1),
    };
    let mut buffer = Vec::with_capacity(256);
    writeln!(out, "{ORDER_HEADER}")?;
    for index in 0..count {
        let hit: [bool; KINDS.len()] = std::array::from_fn(|kind| hits[kind].hit(index));
        orders.line(index, &hit, &sets).write(&orders.days, &mut buffer);
        out.write_all(&buffer)?;
    }
    Ok(FileSummary { file: ORDERS_FILE, rows: count, defects: DefectCounts::of(&KINDS, &sets) })
}
