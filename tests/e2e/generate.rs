//! `host generate-data`: deterministic sample data through the real binary.

use crate::common::{host, scratch, show};

#[test]
fn same_seed_and_size_give_the_same_bytes() {
    let (a, b, c) = (scratch("generate-a"), scratch("generate-b"), scratch("generate-c"));
    for (dir, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        let output =
            host(&["generate-data", "--orders", "2000", "--seed", seed, "--out", dir.to_str().expect("utf-8")], "warn");
        assert!(output.status.success(), "{}", show(&output));
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("summary is JSON");
        assert_eq!(summary["orders"], 2000, "{summary}");
    }
    for file in ["customers.csv", "products.csv", "orders.csv"] {
        let read = |dir: &std::path::Path| std::fs::read(dir.join(file)).expect("file written");
        assert_eq!(read(&a), read(&b), "{file} differs between two runs with the same seed");
        assert_ne!(read(&a), read(&c), "{file} is the same for another seed");
    }
    let orders = std::fs::read_to_string(a.join("orders.csv")).expect("orders written");
    assert!(orders.starts_with("order_id,customer_id,product_id,quantity,unit_price,order_date\n"));
}
