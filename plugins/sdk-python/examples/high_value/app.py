from etl_stage import Stage, export, filter


class HighValue(Stage):
    """Keeps the order lines worth more than `min_amount` (quantity * unit_price)."""

    name = "high-value"
    inputs = {"input": "order lines: quantity int64, unit_price decimal128"}
    outputs = {"output": "the lines whose quantity * unit_price exceeds min_amount"}
    config_help = "min_amount (decimal, required): keep lines worth more than this"

    def open(self, config):
        self.min_amount = config.decimal("min_amount")

    def push(self, port, batch):
        rows = zip(batch["quantity"], batch["unit_price"])
        keep = [q is not None and p is not None and q * p > self.min_amount for q, p in rows]
        self.count("rows_kept", sum(keep))
        self.emit("output", filter(batch, keep))


export(HighValue)
