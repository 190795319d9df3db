//! The generator against its contract: same spec, same bytes; exact defect counts, recounted
//! from the files with a parser of their own; the smallest sizes.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::dims::{CUSTOMER_HEADER, PRODUCT_HEADER};
use super::orders::ORDER_HEADER;
use super::rng::{SplitMix64, count_at_rate, sample_sorted};
use super::*;

/// A fresh directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sample-data-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A CSV file split into its header and records (RFC 4180; the generator never writes a line
/// break inside a field).
fn read(dir: &Path, file: &str) -> (String, Vec<Vec<String>>) {
    let text = fs::read_to_string(dir.join(file)).unwrap();
    assert!(text.ends_with('\n') && !text.contains('\r'), "{file}: LF line endings");
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    (header, lines.map(fields).collect())
}

fn fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        let field = fields.last_mut().unwrap();
        match (quoted, c) {
            (false, '"') if field.is_empty() => quoted = true,
            (false, '"') => panic!("quote inside an unquoted field: {line}"),
            (false, ',') => fields.push(String::new()),
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => {
                quoted = false;
                assert!(matches!(chars.peek(), None | Some(',')), "text after a closing quote: {line}");
            }
            (_, c) => field.push(c),
        }
    }
    assert!(!quoted, "unterminated quote: {line}");
    fields
}

/// int64 as the spec reads it: `[+-]?digits`.
fn int64(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

/// decimal(10,2) in cents as the spec reads it: `[+-]?digits[.d{1,2}]`, at most 8 integer digits.
fn cents(text: &str) -> Option<i64> {
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let fraction_ok = !unsigned.contains('.') || (1..=2).contains(&fraction.len());
    if whole.is_empty() || whole.len() > 8 || !digits(whole) || !digits(fraction) || !fraction_ok {
        return None;
    }
    let fraction: i64 = format!("{fraction:0<2}").parse().unwrap();
    Some(sign * (whole.parse::<i64>().unwrap() * 100 + fraction))
}

/// A real calendar date written `YYYY-MM-DD`.
fn is_date(text: &str) -> bool {
    etl_format::dates::parse_date(text).is_some()
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    [CUSTOMERS_FILE, PRODUCTS_FILE, ORDERS_FILE].map(|file| fs::read(dir.join(file)).unwrap()).into()
}

fn defects(summary: &SampleSummary, file: &str) -> HashMap<&'static str, u64> {
    summary.file(file).unwrap().defects.iter().collect()
}

#[test]
fn splitmix64_matches_the_reference_outputs() {
    let mut rng = SplitMix64::new(1_234_567);
    let outputs: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
    assert_eq!(
        outputs,
        [6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821]
    );
}

#[test]
fn rates_round_half_away_from_zero() {
    assert_eq!(count_at_rate(5, 999), 0);
    assert_eq!(count_at_rate(5, 1_000), 1);
    assert_eq!(count_at_rate(5, 10_000), 5);
    assert_eq!(count_at_rate(100, 50), 1);
    assert_eq!(count_at_rate(300, 1), 0);
    assert_eq!(count_at_rate(300, u64::MAX), 553_402_322_211_286_548);
}

#[test]
fn sampling_is_exact_distinct_sorted_and_avoids_excluded_rows() {
    let excluded = [0, 3, 4, 5, 17, 18, 99, 150];
    for k in [0, 1, 10, 50, 90] {
        let rows = sample_sorted(&mut SplitMix64::new(k), k, 2, 100, &excluded);
        assert_eq!(rows.len() as u64, k);
        assert!(rows.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(rows.iter().all(|row| (2..100).contains(row) && !excluded.contains(row)));
    }
    // 98 rows in 2..100, 6 of them excluded: 92 candidates at most.
    let all = sample_sorted(&mut SplitMix64::new(1), 1_000, 2, 100, &excluded);
    assert_eq!(all.len(), 92);
    assert!(sample_sorted(&mut SplitMix64::new(1), 3, 5, 5, &[]).is_empty());
}

#[test]
fn same_spec_gives_same_bytes_and_another_seed_other_bytes() {
    let (a, b, c) = (Scratch::new("same-a"), Scratch::new("same-b"), Scratch::new("other"));
    let spec = SampleSpec { orders: 3_000, seed: 1 };
    assert_eq!(generate(&spec, &a.0).unwrap(), generate(&spec, &b.0).unwrap());
    assert_eq!(files(&a.0), files(&b.0));
    generate(&SampleSpec { seed: 2, ..spec }, &c.0).unwrap();
    for (first, other) in files(&a.0).iter().zip(files(&c.0)) {
        assert_ne!(first, &other);
    }
}

/// Pins the bytes themselves: if this fails, the generator's output changed for every seed,
/// which breaks the "same seed, same bytes" promise to anyone who stored a digest. Change the
/// digest only on purpose.
#[test]
fn bytes_are_pinned_for_a_known_spec() {
    let dir = Scratch::new("pinned");
    generate(&SampleSpec { orders: 1_000, seed: 42 }, &dir.0).unwrap();
    let mut hasher = Sha256::new();
    for bytes in files(&dir.0) {
        hasher.update(&bytes);
    }
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(digest, "22a6ae352960fc40a80fc690aa3710db23c714921a985e9d12b3f6c004f51e28");
}

#[test]
fn ten_thousand_orders_carry_the_exact_defect_counts() {
    let dir = Scratch::new("10k");
    let summary = generate(&SampleSpec { orders: 10_000, seed: 7 }, &dir.0).unwrap();
    assert_eq!((summary.orders, summary.customers, summary.products), (10_000, 500, 50));

    // Customers: 500 distinct ids after trimming, duplicates as extra rows.
    let (header, customers) = read(&dir.0, CUSTOMERS_FILE);
    assert_eq!(header, CUSTOMER_HEADER);
    assert!(customers.iter().all(|row| row.len() == 5));
    let customer_ids: HashSet<&str> = customers.iter().map(|row| row[0].trim()).collect();
    assert_eq!(customer_ids.len(), 500);
    let expected = HashMap::from([("duplicate_customer_id", 1), ("stray_spaces", 3), ("invalid_signup_date", 1)]);
    assert_eq!(defects(&summary, CUSTOMERS_FILE), expected);
    assert_eq!(summary.file(CUSTOMERS_FILE).unwrap().rows, customers.len() as u64);
    assert_eq!(customers.len() - customer_ids.len(), 1);
    assert_eq!(customers.iter().filter(|row| row[0].trim() != row[0]).count(), 3);
    assert_eq!(customers.iter().filter(|row| !is_date(&row[4])).count(), 1);
    assert!(customers.iter().filter(|row| is_date(&row[4])).all(|row| row[4].as_str() < "2025-01-01"));
    assert!(customers.iter().any(|row| row[1].contains(", ")), "some names need quoting");
    assert!(customers.iter().any(|row| row[1].contains('"')), "some names hold a quote");

    // Products: 50 distinct ids.
    let (header, products) = read(&dir.0, PRODUCTS_FILE);
    assert_eq!(header, PRODUCT_HEADER);
    assert!(products.iter().all(|row| row.len() == 4));
    let product_ids: HashSet<&str> = products.iter().map(|row| row[0].trim()).collect();
    assert_eq!(product_ids.len(), 50);
    let expected = HashMap::from([("duplicate_product_id", 1), ("stray_spaces", 1), ("unparseable_list_price", 1)]);
    assert_eq!(defects(&summary, PRODUCTS_FILE), expected);
    assert_eq!(products.len() - product_ids.len(), 1);
    assert_eq!(products.iter().filter(|row| row[0].trim() != row[0]).count(), 1);
    assert_eq!(products.iter().filter(|row| cents(&row[3]).is_none()).count(), 1);
    let categories: HashSet<&str> = products.iter().map(|row| row[2].as_str()).collect();
    assert!(categories.len() >= 6, "{categories:?}");

    // Orders: every kind recounted from the file.
    let (header, orders) = read(&dir.0, ORDERS_FILE);
    assert_eq!(header, ORDER_HEADER);
    assert_eq!(orders.len(), 10_000);
    let expected = HashMap::from([
        ("null_customer_id", 100),
        ("null_order_id", 20),
        ("quantity_out_of_range", 100),
        ("unit_price_out_of_range", 50),
        ("duplicate_order_id", 100),
        ("stray_spaces", 300),
        ("unknown_product_id", 50),
        ("invalid_date", 20),
        ("unparseable_number", 10),
        ("wrong_field_count", 5),
    ]);
    assert_eq!(defects(&summary, ORDERS_FILE), expected);

    let count = |check: &dyn Fn(&Vec<String>) -> bool| orders.iter().filter(|row| check(row)).count() as u64;
    let quantity = |row: &Vec<String>| int64(&row[3]);
    let price = |row: &Vec<String>| cents(&row[4]);
    let mut recount = HashMap::new();
    recount.insert("null_customer_id", count(&|row| row[1].is_empty()));
    recount.insert("null_order_id", count(&|row| row[0].is_empty()));
    recount.insert("quantity_out_of_range", count(&|row| quantity(row).is_some_and(|q| !(1..=1_000).contains(&q))));
    recount.insert("unit_price_out_of_range", count(&|row| price(row).is_some_and(|p| !(1..=10_000_000).contains(&p))));
    recount.insert("stray_spaces", count(&|row| row[..3].iter().any(|field| field.trim() != field)));
    recount.insert("unknown_product_id", count(&|row| !product_ids.contains(row[2].trim())));
    recount.insert("invalid_date", count(&|row| row.len() >= 6 && !is_date(&row[5])));
    recount.insert("unparseable_number", count(&|row| quantity(row).is_none() || price(row).is_none()));
    recount.insert("wrong_field_count", count(&|row| row.len() != 6));
    // A duplicate repeats an earlier id (after trimming) with other values.
    let mut first_rows: HashMap<&str, &Vec<String>> = HashMap::new();
    let mut duplicates = 0;
    for row in &orders {
        let id = row[0].trim();
        if id.is_empty() {
            continue;
        }
        match first_rows.get(id) {
            Some(first) => {
                duplicates += 1;
                assert_ne!(first[1..], row[1..], "a duplicate differs in its other values");
            }
            None => {
                first_rows.insert(id, row);
            }
        }
    }
    recount.insert("duplicate_order_id", duplicates);
    assert_eq!(recount, expected);

    // Clean values look right: known customers, dates in range, quantities mostly 1-10.
    assert!(orders.iter().all(|row| row[1].is_empty() || customer_ids.contains(row[1].trim())));
    let dates: Vec<&str> = orders.iter().filter(|row| row.len() >= 6 && is_date(&row[5])).map(|row| &*row[5]).collect();
    let missing = count(&|row| row.len() < 6);
    assert_eq!(dates.len() as u64, 10_000 - 20 - missing, "every date but the invalid ones and the missing ones");
    assert!(dates.iter().all(|date| ("2023-01-01"..="2024-12-31").contains(date)));
    assert!(
        dates.iter().any(|date| date.starts_with("2023-01")) && dates.iter().any(|date| date.starts_with("2024-12"))
    );
    let small = count(&|row| quantity(row).is_some_and(|q| (1..=10).contains(&q)));
    assert!(small > 9_000, "{small} of 10000 quantities in 1..=10");

    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["files"][2]["defects"]["null_customer_id"], 100);
    assert_eq!(json["files"][0]["file"], "customers.csv");
}

#[test]
fn no_orders_and_one_order_work() {
    for orders in [0, 1] {
        let dir = Scratch::new(&format!("tiny-{orders}"));
        let summary = generate(&SampleSpec { orders, seed: 3 }, &dir.0).unwrap();
        assert_eq!((summary.customers, summary.products), (1, 50));
        let file = summary.file(ORDERS_FILE).unwrap();
        assert_eq!(file.rows, orders);
        assert!(file.defects.iter().all(|(_, count)| count == 0), "{file:?}");
        let (header, rows) = read(&dir.0, ORDERS_FILE);
        assert_eq!(header, ORDER_HEADER);
        assert_eq!(rows.len() as u64, orders);
        assert!(rows.iter().all(|row| row.len() == 6 && row[0] == "O0000001" && row[1] == "C000001"));
        let (_, customers) = read(&dir.0, CUSTOMERS_FILE);
        assert_eq!(customers.len(), 1);
    }
}
