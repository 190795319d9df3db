//! Pipeline configuration: the YAML file, environment overlays and `--set` overrides
//! ([`load`]), then validation into a runnable [`Plan`] ([`plan`]).

mod load;
mod model;
mod plan;

pub use load::{LoadError, Loaded, Source, load};
pub use model::{
    AlertConfig, Catchup, Checks, ColumnConfig, ConservationCheck, IngestConfig, LimitsOverride, Paths, PipelineFile,
    ReportConfig, RetentionConfig, SandboxConfig, ScheduleConfig, StageConfig, StageDefaults, TableColumn, TableConfig,
    TableMode, TypedColumn,
};
pub use plan::{INGEST_OUTPUTS, Plan, PlanError, PlannedCheck, PlannedStage, StageKind, Upstream, plan};
