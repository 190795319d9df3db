//! The dimension files, `customers.csv` and `products.csv`, with their own few defects.

use std::io::{self, Write};

use super::csv::{self, push_cents, push_id, push_text};
use super::rng::{Cursor, RowStreams, SplitMix64, sample_sorted, stream};
use super::vocab::{
    BAD_DECIMALS, CATEGORIES, EMAIL_DOMAINS, FIRST_NAMES, INVALID_SIGNUP_DATES, LAST_NAMES, PRODUCT_ADJECTIVES,
    REGIONS, STRAY_PADDING,
};
use super::{CUSTOMERS_FILE, DefectCounts, FileSummary, Kind, PRODUCTS_FILE};

pub(crate) const CUSTOMER_HEADER: &str = "customer_id,name,email,region,signup_date";
pub(crate) const PRODUCT_HEADER: &str = "product_id,product_name,category,list_price";

/// Digits in a customer id (`C000123`) and a product id (`P00042`); larger numbers get more.
pub(crate) const CUSTOMER_ID_WIDTH: usize = 6;
pub(crate) const PRODUCT_ID_WIDTH: usize = 5;

/// Customer defect kinds; the index is the kind's selection stream.
const DUPLICATE_CUSTOMER_ID: usize = 0;
const CUSTOMER_STRAY_SPACES: usize = 1;
const INVALID_SIGNUP_DATE: usize = 2;
const CUSTOMER_KINDS: [Kind; 3] =
    [Kind::new("duplicate_customer_id", 20), Kind::new("stray_spaces", 50), Kind::new("invalid_signup_date", 10)];

/// Product defect kinds; the index is the kind's selection stream.
const DUPLICATE_PRODUCT_ID: usize = 0;
const PRODUCT_STRAY_SPACES: usize = 1;
const UNPARSEABLE_LIST_PRICE: usize = 2;
const PRODUCT_KINDS: [Kind; 3] =
    [Kind::new("duplicate_product_id", 100), Kind::new("stray_spaces", 200), Kind::new("unparseable_list_price", 100)];

/// Signup dates fall in these years.
const SIGNUP_YEARS: (u16, u16) = (2019, 2024);

/// For each kind, the sorted rows (of `0..rows`) it hits, each kind from its own stream.
fn select(seed: u64, tag: u64, kinds: &[Kind], rows: u64) -> Vec<Vec<u64>> {
    kinds
        .iter()
        .enumerate()
        .map(|(index, kind)| {
            let mut rng = SplitMix64::stream(seed, tag + index as u64);
            sample_sorted(&mut rng, kind.count(rows), 0, rows, &[])
        })
        .collect()
}

/// One customer as drawn from its row stream, before defects.
#[derive(Debug)]
struct Customer {
    first: usize,
    last: usize,
    /// 0..6: "Last, First"; 6..8: `First "Nick" Last`; else "First Last".
    style: u64,
    domain: usize,
    region: usize,
    signup_day: usize,
}

impl Customer {
    fn draw(rng: &mut SplitMix64, days: usize) -> Self {
        Customer {
            first: rng.below(FIRST_NAMES.len() as u64) as usize,
            last: rng.below(LAST_NAMES.len() as u64) as usize,
            style: rng.below(100),
            domain: rng.below(EMAIL_DOMAINS.len() as u64) as usize,
            region: rng.below(REGIONS.len() as u64) as usize,
            signup_day: rng.below(days as u64) as usize,
        }
    }

    fn write_name(&self, scratch: &mut Vec<u8>) -> io::Result<()> {
        let (first, _, nickname) = FIRST_NAMES[self.first];
        let (last, _) = LAST_NAMES[self.last];
        scratch.clear();
        match self.style {
            0..6 => write!(scratch, "{last}, {first}"),
            6..8 => write!(scratch, "{first} \"{nickname}\" {last}"),
            _ => write!(scratch, "{first} {last}"),
        }
    }

    /// `first.last123@domain`; the customer number makes it unique.
    fn write_email(&self, number: u64, domain: usize, scratch: &mut Vec<u8>) -> io::Result<()> {
        let (_, first, _) = FIRST_NAMES[self.first];
        let (_, last) = LAST_NAMES[self.last];
        scratch.clear();
        write!(scratch, "{first}.{last}{number}@{}", EMAIL_DOMAINS[domain])
    }
}

/// Writes `customers.csv`: `count` customers `C000001..`, plus the duplicate rows.
pub(crate) fn write_customers(seed: u64, count: u64, out: &mut impl Write) -> io::Result<FileSummary> {
    let sets = select(seed, stream::CUSTOMER_DEFECTS, &CUSTOMER_KINDS, count);
    let mut duplicates = Cursor::new(&sets[DUPLICATE_CUSTOMER_ID]);
    let mut stray = Cursor::new(&sets[CUSTOMER_STRAY_SPACES]);
    let mut invalid_date = Cursor::new(&sets[INVALID_SIGNUP_DATE]);
    let rows = RowStreams::new(seed, stream::CUSTOMER_ROWS);
    let days = csv::days(SIGNUP_YEARS.0, SIGNUP_YEARS.1);
    let (mut line, mut scratch) = (Vec::with_capacity(256), Vec::with_capacity(128));
    writeln!(out, "{CUSTOMER_HEADER}")?;
    for index in 0..count {
        let mut rng = rows.at(index);
        let customer = Customer::draw(&mut rng, days.len());
        let padding = if stray.hit(index) { rng.pick(STRAY_PADDING) } else { ("", "") };
        let signup_date = if invalid_date.hit(index) {
            rng.pick(INVALID_SIGNUP_DATES).as_bytes()
        } else {
            &days[customer.signup_day]
        };

        line.clear();
        line.extend_from_slice(padding.0.as_bytes());
        push_id(&mut line, b'C', index + 1, CUSTOMER_ID_WIDTH);
        line.extend_from_slice(padding.1.as_bytes());
        line.push(b',');
        customer.write_name(&mut scratch)?;
        push_text(&mut line, &scratch);
        line.push(b',');
        customer.write_email(index + 1, customer.domain, &mut scratch)?;
        push_text(&mut line, &scratch);
        line.push(b',');
        push_text(&mut line, REGIONS[customer.region].as_bytes());
        line.push(b',');
        line.extend_from_slice(signup_date);
        line.push(b'\n');
        out.write_all(&line)?;

        if duplicates.hit(index) {
            // The customer again, from any row so far (this one included), with a new email.
            let source = rng.below(index + 1);
            let original = Customer::draw(&mut rows.at(source), days.len());
            let domain =
                (original.domain + 1 + rng.below(EMAIL_DOMAINS.len() as u64 - 1) as usize) % EMAIL_DOMAINS.len();
            line.clear();
            push_id(&mut line, b'C', source + 1, CUSTOMER_ID_WIDTH);
            line.push(b',');
            original.write_name(&mut scratch)?;
            push_text(&mut line, &scratch);
            line.push(b',');
            original.write_email(source + 1, domain, &mut scratch)?;
            push_text(&mut line, &scratch);
            line.push(b',');
            push_text(&mut line, REGIONS[original.region].as_bytes());
            line.push(b',');
            line.extend_from_slice(&days[original.signup_day]);
            line.push(b'\n');
            out.write_all(&line)?;
        }
    }
    Ok(FileSummary {
        file: CUSTOMERS_FILE,
        rows: count + sets[DUPLICATE_CUSTOMER_ID].len() as u64,
        defects: DefectCounts::of(&CUSTOMER_KINDS, &sets),
    })
}

/// One product as drawn from its row stream, before defects.
#[derive(Debug)]
struct Product {
    category: usize,
    adjective: usize,
    noun: usize,
    /// 0..4: "…, Pack of N"; 4..6: `… "Limited Edition"`; else plain.
    style: u64,
    pack: u64,
    list_price: u64,
}

impl Product {
    fn draw(rng: &mut SplitMix64) -> Self {
        let category = rng.below(CATEGORIES.len() as u64) as usize;
        let (low, high) = CATEGORIES[category].price_cents;
        let mut list_price = rng.range(low, high);
        if rng.percent(60) {
            list_price = list_price / 100 * 100 + 99;
        }
        Product {
            category,
            adjective: rng.below(PRODUCT_ADJECTIVES.len() as u64) as usize,
            noun: rng.below(CATEGORIES[category].nouns.len() as u64) as usize,
            style: rng.below(100),
            pack: rng.range(2, 6),
            list_price,
        }
    }

    fn write_name(&self, scratch: &mut Vec<u8>) -> io::Result<()> {
        let adjective = PRODUCT_ADJECTIVES[self.adjective];
        let noun = CATEGORIES[self.category].nouns[self.noun];
        scratch.clear();
        match self.style {
            0..4 => write!(scratch, "{adjective} {noun}, Pack of {}", self.pack),
            4..6 => write!(scratch, "{adjective} {noun} \"Limited Edition\""),
            _ => write!(scratch, "{adjective} {noun}"),
        }
    }

    fn write_line(
        &self,
        id: (&str, u64, &str),
        list_price: Option<&str>,
        line: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> io::Result<()> {
        line.clear();
        line.extend_from_slice(id.0.as_bytes());
        push_id(line, b'P', id.1, PRODUCT_ID_WIDTH);
        line.extend_from_slice(id.2.as_bytes());
        line.push(b',');
        self.write_name(scratch)?;
        push_text(line, scratch);
        line.push(b',');
        push_text(line, CATEGORIES[self.category].name.as_bytes());
        line.push(b',');
        match list_price {
            Some(text) => push_text(line, text.as_bytes()),
            None => push_cents(line, self.list_price as i64),
        }
        line.push(b'\n');
        Ok(())
    }
}

/// Writes `products.csv`: `count` products `P00001..`, plus the duplicate rows. Returns the list
/// price of each product in cents (the orders' unit prices derive from it).
pub(crate) fn write_products(seed: u64, count: u64, out: &mut impl Write) -> io::Result<(FileSummary, Vec<u64>)> {
    let sets = select(seed, stream::PRODUCT_DEFECTS, &PRODUCT_KINDS, count);
    let mut duplicates = Cursor::new(&sets[DUPLICATE_PRODUCT_ID]);
    let mut stray = Cursor::new(&sets[PRODUCT_STRAY_SPACES]);
    let mut unparseable = Cursor::new(&sets[UNPARSEABLE_LIST_PRICE]);
    let rows = RowStreams::new(seed, stream::PRODUCT_ROWS);
    let mut list_prices = Vec::with_capacity(count as usize);
    let (mut line, mut scratch) = (Vec::with_capacity(256), Vec::with_capacity(128));
    writeln!(out, "{PRODUCT_HEADER}")?;
    for index in 0..count {
        let mut rng = rows.at(index);
        let product = Product::draw(&mut rng);
        list_prices.push(product.list_price);
        let (before, after) = if stray.hit(index) { rng.pick(STRAY_PADDING) } else { ("", "") };
        let bad_price = if unparseable.hit(index) { Some(rng.pick(BAD_DECIMALS)) } else { None };
        product.write_line((before, index + 1, after), bad_price, &mut line, &mut scratch)?;
        out.write_all(&line)?;

        if duplicates.hit(index) {
            // The product again, from any row so far (this one included), at a higher price.
            let source = rng.below(index + 1);
            let mut repriced = Product::draw(&mut rows.at(source));
            repriced.list_price += rng.range(1, repriced.list_price / 5 + 1);
            repriced.write_line(("", source + 1, ""), None, &mut line, &mut scratch)?;
            out.write_all(&line)?;
        }
    }
    let summary = FileSummary {
        file: PRODUCTS_FILE,
        rows: count + sets[DUPLICATE_PRODUCT_ID].len() as u64,
        defects: DefectCounts::of(&PRODUCT_KINDS, &sets),
    };
    Ok((summary, list_prices))
}
