//! Plugin stages run natively, for measuring what the sandbox costs: with the `native-stages`
//! feature the host links the plugin crates of this workspace and `host run --native-stages`
//! runs each plugin stage through its crate (the SDK's [`etl_sdk::native`] driver) instead of its
//! `.wasm`. Same config, same ports, same batches; no sandbox, no IPC, no limits. Builds without
//! the feature refuse the flag.

use super::stages::OpenedStage;

#[cfg(not(feature = "native-stages"))]
pub(super) fn open(
    _: &crate::runtime::Plugin,
    stage: &str,
    _: &crate::runtime::RunInfo,
    _: &str,
) -> Result<Box<dyn OpenedStage>, String> {
    Err(format!("stage \"{stage}\": this host was built without the `native-stages` feature"))
}

#[cfg(feature = "native-stages")]
pub(super) use imp::open;

#[cfg(feature = "native-stages")]
mod imp {
    use std::time::{Duration, Instant};

    use arrow_array::RecordBatch;
    use etl_sdk::context::RunContext;
    use etl_sdk::native::{Emitted, NativeStage};

    use super::OpenedStage;
    use crate::runtime::{InstanceStats, Output, Plugin, RunInfo, StageErrorKind};
    use crate::untrusted::PluginText;

    /// Opens the crate of `plugin` (found by its file name: `validate.wasm` is the `validate`
    /// crate) for stage `stage`.
    pub(in crate::run) fn open(
        plugin: &Plugin,
        stage: &str,
        run: &RunInfo,
        config: &str,
    ) -> Result<Box<dyn OpenedStage>, String> {
        let name = plugin.path().file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let context = RunContext {
            run_id: run.run_id.clone(),
            logical_date: run.logical_date.clone(),
            stage: stage.to_owned(),
            attempt: run.attempt,
        };
        let open = match name {
            "validate" => etl_sdk::native::open::<validate::Validate>,
            "cleanse" => etl_sdk::native::open::<cleanse::Cleanse>,
            "enrich" => etl_sdk::native::open::<enrich::Enrich>,
            "aggregate" => etl_sdk::native::open::<aggregate::Aggregate>,
            "identity" => etl_sdk::native::open::<identity::Identity>,
            other => {
                return Err(format!(
                    "stage \"{stage}\": --native-stages has no native build of plugin `{other}` \
                     (it knows validate, cleanse, enrich, aggregate, identity)"
                ));
            }
        };
        let mut opened = Native {
            stage: open(config, context).map_err(|e| PluginText::message(&e.to_string()).into_string())?,
            stats: InstanceStats::default(),
            name: stage.to_owned(),
            plugin: plugin.label().to_owned(),
        };
        opened.forward_logs();
        Ok(Box::new(opened))
    }

    struct Native {
        stage: Box<dyn NativeStage>,
        stats: InstanceStats,
        name: String,
        /// The plugin, as the sandbox's log records name it.
        plugin: String,
    }

    impl Native {
        fn call(&mut self, result: etl_sdk::Result<Emitted>, started: Instant) -> Result<Vec<Output>, StageErrorKind> {
            self.stats.calls += 1;
            self.stats.guest_time += started.elapsed();
            self.forward_logs();
            let outputs: Vec<Output> = result
                .map_err(|e| StageErrorKind::Failed(PluginText::message(&e.to_string())))?
                .into_iter()
                .map(|(port, batches)| Output { port, batches })
                .collect();
            for output in &outputs {
                self.stats.rows_out += output.rows() as u64;
                self.stats.bytes_out += output.batches.iter().map(|b| b.get_array_memory_size() as u64).sum::<u64>();
            }
            Ok(outputs)
        }

        fn forward_logs(&mut self) {
            use etl_sdk::log::Level;
            for (level, message) in self.stage.take_logs() {
                let level = match level {
                    Level::Trace => tracing::Level::TRACE,
                    Level::Debug => tracing::Level::DEBUG,
                    Level::Info => tracing::Level::INFO,
                    Level::Warn => tracing::Level::WARN,
                    Level::Error => tracing::Level::ERROR,
                };
                crate::runtime::log_plugin_message(level, &self.name, &self.plugin, &message);
            }
        }
    }

    impl OpenedStage for Native {
        fn push(&mut self, port: &str, batch: &RecordBatch, _: Duration) -> Result<Vec<Output>, StageErrorKind> {
            self.stats.rows_in += batch.num_rows() as u64;
            self.stats.bytes_in += batch.get_array_memory_size() as u64;
            let started = Instant::now();
            let result = self.stage.push(port, batch.clone());
            self.call(result, started)
        }

        fn finish(&mut self, _: Duration) -> Result<Vec<Output>, StageErrorKind> {
            let started = Instant::now();
            let result = self.stage.finish();
            self.call(result, started)
        }

        fn metrics(&mut self) -> Result<Vec<(String, i64)>, StageErrorKind> {
            Ok(crate::runtime::keep_metrics(&self.name, &self.plugin, self.stage.metrics().into_iter()))
        }

        fn stats(&self) -> InstanceStats {
            self.stats
        }
    }
}
