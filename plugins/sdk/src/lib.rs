#![doc = include_str!("../README.md")]

// Lets the generated bindings and the export macro name this crate the same way from inside and
// outside of it.
extern crate self as etl_sdk;

pub mod bytes;
pub mod columns;
mod config;
pub mod context;
pub mod decimal;
mod driver;
mod error;
mod filter_stage;
pub mod index;
pub mod log;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod rows;
mod stage;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod guest;

pub use columns::{column, column_as, primitive_column};
pub use config::{NoConfig, parse_config};
pub use decimal::{Decimal, DecimalColumn, decimal_column};
pub use error::{Error, Result};
pub use filter_stage::Filter;
pub use rows::filter;
pub use stage::{Emitter, Info, Metric, Port, Ports, Stage};

/// The Arrow crates the SDK is built on, re-exported so a plugin needs no other dependency and
/// always agrees with the SDK on their versions.
pub mod arrow {
    pub use arrow_array as array;
    pub use arrow_array::RecordBatch;
    pub use arrow_buffer as buffer;
    pub use arrow_schema as schema;
}

/// What most plugins use, in one import: `use etl_sdk::prelude::*;`.
pub mod prelude {
    pub use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type};
    pub use arrow_array::{
        Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch,
        StringArray,
    };
    pub use arrow_schema::DataType;

    pub use crate::{
        Decimal, Emitter, Error, Filter, Info, Metric, NoConfig, Result, Stage, column, column_as, decimal_column,
        filter, primitive_column,
    };
}

/// Calendar dates as Arrow's `Date32` counts them (days since 1970-01-01): conversions to and
/// from (year, month, day) and `YYYY-MM-DD`, exactly as the host reads and writes them.
pub use etl_format::dates;

/// Re-exported for plugins' config types: `#[derive(etl_sdk::serde::Deserialize)]`.
pub use serde;

/// The version of the `etl:stage` WIT contract this SDK builds plugins against.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Exports a [`Stage`] implementation as the plugin's component interface.
///
/// On `wasm32` this expands to the WIT export glue; on other targets it expands to nothing, so
/// the same crate builds natively for its tests and benchmarks.
#[macro_export]
macro_rules! export_stage {
    ($stage:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __EtlStageComponent = $crate::guest::Component<$stage>;
    $crate::guest::__export_plugin!(__EtlStageComponent with_types_in $crate::guest::wit);
        };
    };
}

#[cfg(test)]
mod tests {
    /// The version the SDK claims is the one of the WIT it generates its bindings from.
    #[test]
    fn the_contract_version_is_the_wit_file_s() {
        let wit = include_str!("../wit/stage.wit");
        let declared = format!("package etl:stage@{};", super::CONTRACT_VERSION);
        assert!(wit.lines().any(|l| l == declared), "wit/stage.wit does not declare `{declared}`");
    }
}
