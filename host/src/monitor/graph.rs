//! The pipeline's stage graph as the dashboard draws it, read from the pipeline file's stages
//! (`inputs`, `depends_on`, the sinks' `input`) without loading a plugin.

use serde::Serialize;

use crate::config::{PipelineFile, StageConfig};

/// What a stage is, for the pages: it reads files, runs a plugin, or writes outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Source,
    Plugin,
    Sink,
}

impl NodeKind {
    pub const fn label(self) -> &'static str {
        match self {
            NodeKind::Source => "source",
            NodeKind::Plugin => "plugin",
            NodeKind::Sink => "sink",
        }
    }
}

/// `/api/pipeline`: stages in file order, edges from upstream to downstream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PipelineGraph {
    pub pipeline: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    /// The ingest file, the plugin file, or the tables and reports written.
    pub detail: String,
    /// The column the graph page draws it in: 0 for stages that read no stage, else one more
    /// than the furthest upstream.
    pub level: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// The ports read (`valid`, `out -> in`), or `depends_on` for an ordering-only edge.
    pub label: String,
}

impl PipelineGraph {
    /// The graph of a loaded pipeline file. Inputs naming no stage are left out (`host validate`
    /// reports them).
    pub fn of(file: &PipelineFile) -> Self {
        let mut nodes: Vec<Node> = file.stages.iter().map(node).collect();
        let mut edges = Vec::new();
        for stage in &file.stages {
            let mut add = |input: &str, label: String| {
                let from = input.split_once('.').map_or(input, |(stage, _)| stage);
                if file.stages.iter().any(|s| s.name == from) {
                    edges.push(Edge { from: from.to_owned(), to: stage.name.clone(), label });
                }
            };
            for (port, input) in &stage.inputs {
                let out = input.split_once('.').map_or("out", |(_, port)| port);
                add(input, format!("{out} -> {port}"));
            }
            for table in stage.warehouse.iter().flatten() {
                add(&table.input, format!("table {}", table.table));
            }
            for report in stage.reports.iter().flatten() {
                add(&report.input, format!("report {}", report.file));
            }
            for dep in &stage.depends_on {
                add(dep, "depends_on".to_owned());
            }
        }
        // Longest path from a source, bounded by the number of stages (a cycle stops there).
        for _ in 0..nodes.len() {
            let mut changed = false;
            for edge in &edges {
                let from = nodes.iter().position(|n| n.name == edge.from);
                let to = nodes.iter().position(|n| n.name == edge.to);
                if let (Some(from), Some(to)) = (from, to) {
                    let level = (nodes[from].level + 1).min(nodes.len());
                    if nodes[to].level < level {
                        nodes[to].level = level;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        PipelineGraph { pipeline: file.pipeline.clone(), nodes, edges }
    }
}

fn node(stage: &StageConfig) -> Node {
    let (kind, detail) = if let Some(ingest) = &stage.ingest {
        (NodeKind::Source, ingest.file.display().to_string())
    } else if let Some(plugin) = &stage.plugin {
        (NodeKind::Plugin, plugin.display().to_string())
    } else {
        let tables = stage.warehouse.iter().flatten().map(|t| t.table.clone());
        let reports = stage.reports.iter().flatten().map(|r| r.file.clone());
        (NodeKind::Sink, tables.chain(reports).collect::<Vec<_>>().join(", "))
    };
    Node { name: stage.name.clone(), kind, detail, level: 0 }
}
