use etl_sdk::prelude::*;

etl_sdk::config! { pub struct HighValue { min_amount: Decimal } }

impl Filter for HighValue {
    fn info() -> Info {
        Info::new("high-value", "0.1.0", "Keeps the order lines worth more than min_amount (quantity * unit_price)")
            .config_help("min_amount (decimal, required): keep the lines worth more than this")
    }
    fn keep(&mut self, batch: &RecordBatch) -> Result<BooleanArray> {
        let quantity = primitive_column::<Int64Type>(batch, "quantity")?;
        let price = decimal_column(batch, "unit_price")?;
        Ok(quantity.iter().zip(price.iter()).map(|(q, p)| Some(p? * q? > self.min_amount)).collect())
    }
}

etl_sdk::export_stage!(HighValue);
