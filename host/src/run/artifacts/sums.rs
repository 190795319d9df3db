//! The exact sums of an artifact's Decimal128 columns, for `equal_sums` checks: kept as each
//! batch is written and recorded beside the artifact (`<port>.sums.json`), or, for an artifact
//! without a readable record, summed by reading the column.

use std::collections::BTreeMap;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Decimal128Type;
use arrow_schema::DataType;
use serde::{Deserialize, Serialize};

use super::Artifacts;
use super::error::{ArtifactError, Location};

/// The exact sum of a Decimal128 column's values (nulls count as nothing), in units of
/// `10^-scale`; `None` once it no longer fits 128 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecimalSum {
    pub scale: i8,
    #[serde(with = "optional_i128_text")]
    pub sum: Option<i128>,
}

impl DecimalSum {
    /// Adds the values of `array`, a Decimal128 array of this scale.
    pub(super) fn add(&mut self, array: &dyn Array) {
        let Some(values) = array.as_primitive_opt::<Decimal128Type>() else { return };
        let part = if values.null_count() == 0 {
            values.values().iter().try_fold(0i128, |sum, &v| sum.checked_add(v))
        } else {
            values.iter().flatten().try_fold(0i128, |sum, v| sum.checked_add(v))
        };
        self.sum = self.sum.zip(part).and_then(|(sum, part)| sum.checked_add(part));
    }
}

/// An artifact's `<port>.sums.json`: its decimal columns' sums, by name.
#[derive(Debug, Default, Serialize, Deserialize)]
struct RecordedSums {
    columns: BTreeMap<String, DecimalSum>,
}

/// Writes the sums of an artifact's decimal columns to the file `at`.
pub(super) fn record(
    at: &Location,
    columns: impl IntoIterator<Item = (String, DecimalSum)>,
) -> Result<(), ArtifactError> {
    let recorded = RecordedSums { columns: columns.into_iter().collect() };
    let json = serde_json::to_vec(&recorded).map_err(|e| at.io("encode")(e.into()))?;
    std::fs::write(&at.path, json).map_err(at.io("write"))
}

/// The sum of `column` of `stage`'s output `port`: see [`Artifacts::decimal_sum`].
pub(super) fn decimal_sum(
    artifacts: &Artifacts,
    stage: &str,
    port: &str,
    column: &str,
) -> Result<DecimalSum, ArtifactError> {
    // The file is not fsynced: one a crash left unreadable is only a cache missed.
    let recorded = std::fs::read(artifacts.sums_path(stage, port))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<RecordedSums>(&bytes).ok());
    if let Some(sum) = recorded.and_then(|mut recorded| recorded.columns.remove(column)) {
        return Ok(sum);
    }
    let mut sum: Option<DecimalSum> = None;
    for batch in artifacts.read_columns(stage, port, &[column])? {
        let batch = batch?;
        let array = batch.column(0);
        let DataType::Decimal128(_, scale) = array.data_type() else {
            return Err(ArtifactError::NotDecimal {
                stage: stage.to_owned(),
                port: port.to_owned(),
                column: column.to_owned(),
                data_type: array.data_type().clone(),
            });
        };
        sum.get_or_insert(DecimalSum { scale: *scale, sum: Some(0) }).add(array.as_ref());
    }
    Ok(sum.unwrap_or(DecimalSum { scale: 0, sum: Some(0) }))
}

/// An i128 as a JSON string (JSON numbers lose precision past 2^53 in most readers).
mod optional_i128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<i128>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_some(&value.to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i128>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}
