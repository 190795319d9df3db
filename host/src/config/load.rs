//! Reading a pipeline file: YAML, the environment overlay, `--set` overrides, then the typed
//! [`PipelineFile`] with errors that name the key (`stages[2].retries: invalid type ...`).

use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use super::model::PipelineFile;

/// A pipeline file could not be read or does not have the right shape.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("environment \"{env}\": no overlay file {path}")]
    NoEnvironment { env: String, path: PathBuf },
    #[error("--set {assignment}: {message}")]
    Set { assignment: String, message: String },
    #[error("--unset {key}: {message}")]
    Unset { key: String, message: String },
    #[error("{path}: {message}")]
    Shape { path: PathBuf, message: String },
}

/// What to read: the pipeline file, an environment and overrides.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub path: &'a Path,
    /// `config/environments/<env>.yaml` next to the pipeline file is merged over it. The
    /// default environment, `development`, may be absent; a named one must exist.
    pub env: &'a str,
    pub env_required: bool,
    /// `key.path=value` overrides applied last; `stages.<name>.<key>` addresses a stage.
    pub set: &'a [String],
    /// `key.path` keys removed after the overrides (a stage's `sha256` pin, a `config:` key).
    pub unset: &'a [String],
}

/// The pipeline file after overlay and overrides, plus the merged YAML (for the run's digest).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: PipelineFile,
    pub merged: Value,
}

pub fn load(source: &Source<'_>) -> Result<Loaded, LoadError> {
    let mut merged = read_yaml(source.path)?;
    let env_path =
        source.path.parent().unwrap_or(Path::new(".")).join("environments").join(format!("{}.yaml", source.env));
    if env_path.exists() {
        let overlay = read_yaml(&env_path)?;
        merge(&mut merged, overlay, &env_path)?;
    } else if source.env_required {
        return Err(LoadError::NoEnvironment { env: source.env.to_owned(), path: env_path });
    }
    for assignment in source.set {
        apply_set(&mut merged, assignment)?;
    }
    for key in source.unset {
        apply_unset(&mut merged, key)?;
    }
    let file = serde_path_to_error::deserialize::<_, PipelineFile>(merged.clone()).map_err(|error| {
        let at = error.path().to_string();
        let message = error.into_inner().to_string();
        let message = if at == "." { message } else { format!("{at}: {message}") };
        LoadError::Shape { path: source.path.to_owned(), message }
    })?;
    Ok(Loaded { file, merged })
}

fn read_yaml(path: &Path) -> Result<Value, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
    serde_norway::from_str(&text).map_err(|e| LoadError::Yaml { path: path.to_owned(), message: e.to_string() })
}

/// Merges `overlay` into `base`: mappings key by key, `stages` entry by entry matched on `name`,
/// anything else replaced.
fn merge(base: &mut Value, overlay: Value, path: &Path) -> Result<(), LoadError> {
    match (base, overlay) {
        (Value::Mapping(base), Value::Mapping(overlay)) => {
            for (key, value) in overlay {
                let is_stages = key.as_str() == Some("stages");
                match base.get_mut(&key) {
                    Some(Value::Sequence(stages)) if is_stages => merge_stages(stages, value, path)?,
                    Some(existing) => merge(existing, value, path)?,
                    None => {
                        base.insert(key, value);
                    }
                }
            }
            Ok(())
        }
        (base, overlay) => {
            *base = overlay;
            Ok(())
        }
    }
}

fn merge_stages(stages: &mut [Value], overlay: Value, path: &Path) -> Result<(), LoadError> {
    let Value::Sequence(entries) = overlay else {
        return Err(LoadError::Yaml { path: path.to_owned(), message: "stages: expected a list".into() });
    };
    for entry in entries {
        let name = entry.get("name").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| LoadError::Yaml {
            path: path.to_owned(),
            message: "stages: every overlay entry needs the `name` of the stage it changes".into(),
        })?;
        let target = stages.iter_mut().find(|s| s.get("name").and_then(Value::as_str) == Some(name.as_str()));
        match target {
            Some(stage) => merge(stage, entry, path)?,
            None => {
                return Err(LoadError::Yaml {
                    path: path.to_owned(),
                    message: format!("stages: overlay names stage \"{name}\", which the pipeline does not have"),
                });
            }
        }
    }
    Ok(())
}

/// Applies `a.b.c=value`; the value is read as YAML (`3`, `true`, `[a, b]`, text).
fn apply_set(root: &mut Value, assignment: &str) -> Result<(), LoadError> {
    let err = |message: String| LoadError::Set { assignment: assignment.to_owned(), message };
    let (key, raw) = assignment.split_once('=').ok_or_else(|| err("expected key.path=value".into()))?;
    let value: Value = serde_norway::from_str(raw).map_err(|e| err(format!("value: {e}")))?;
    let (map, last) = parent_of(root, key, true).map_err(err)?;
    map.insert(Value::from(last), value);
    Ok(())
}

/// Removes `a.b.c`, which must be there.
fn apply_unset(root: &mut Value, key: &str) -> Result<(), LoadError> {
    let err = |message: String| LoadError::Unset { key: key.to_owned(), message };
    let (map, last) = parent_of(root, key, false).map_err(err)?;
    match map.remove(last) {
        Some(_) => Ok(()),
        None => Err(err(format!("there is no `{last}` to remove"))),
    }
}

/// The mapping that holds the last segment of `key` (`stages.<name>` finds the stage by name),
/// and that segment; with `create`, missing mappings on the way are made.
fn parent_of<'v, 'k>(root: &'v mut Value, key: &'k str, create: bool) -> Result<(&'v mut Mapping, &'k str), String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err("empty key segment".into());
    }
    let mut node = root;
    let mut i = 0;
    while i < parts.len() - 1 {
        let part = parts[i];
        if part == "stages" {
            let name = parts.get(i + 1).ok_or("stages.<name>.<key> names a stage")?;
            let stages = node.get_mut("stages").and_then(Value::as_sequence_mut).ok_or("no stages")?;
            node = stages
                .iter_mut()
                .find(|s| s.get("name").and_then(Value::as_str) == Some(*name))
                .ok_or_else(|| format!("no stage \"{name}\""))?;
            i += 2;
            if i >= parts.len() {
                return Err("stages.<name>.<key>: which key?".into());
            }
            continue;
        }
        let map = node.as_mapping_mut().ok_or_else(|| format!("`{part}` is inside a value that is not a mapping"))?;
        node = if create {
            map.entry(Value::from(part)).or_insert_with(|| Value::Mapping(Mapping::new()))
        } else {
            map.get_mut(part).ok_or_else(|| format!("there is no `{part}`"))?
        };
        i += 1;
    }
    let last = parts[parts.len() - 1];
    let map = node.as_mapping_mut().ok_or_else(|| format!("`{last}` is inside a value that is not a mapping"))?;
    Ok((map, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_norway::from_str(text).unwrap()
    }

    #[test]
    fn overlays_merge_maps_and_stages_by_name() {
        let mut base = yaml("paths: {raw_data: a, state: s}\nstages:\n  - {name: x, retries: 1}\n  - {name: y}\n");
        merge(&mut base, yaml("paths: {raw_data: b}\nstages:\n  - {name: y, retries: 3}\n"), Path::new("o.yaml"))
            .unwrap();
        assert_eq!(
            base,
            yaml("paths: {raw_data: b, state: s}\nstages:\n  - {name: x, retries: 1}\n  - {name: y, retries: 3}\n")
        );
        let error = merge(&mut base, yaml("stages:\n  - {name: z}\n"), Path::new("o.yaml")).unwrap_err();
        assert_eq!(error.to_string(), "o.yaml: stages: overlay names stage \"z\", which the pipeline does not have");
    }

    #[test]
    fn set_overrides_paths_and_stage_keys() {
        let mut root = yaml("paths: {raw_data: a}\nstages:\n  - {name: x}\n");
        apply_set(&mut root, "paths.raw_data=/data/in").unwrap();
        apply_set(&mut root, "stages.x.retries=2").unwrap();
        apply_set(&mut root, "defaults.limits.memory_bytes=1024").unwrap();
        assert_eq!(
            root,
            yaml(
                "paths: {raw_data: /data/in}\nstages:\n  - {name: x, retries: 2}\n\
                 defaults: {limits: {memory_bytes: 1024}}\n"
            )
        );
        assert_eq!(
            apply_set(&mut root, "stages.nope.retries=1").unwrap_err().to_string(),
            "--set stages.nope.retries=1: no stage \"nope\""
        );
        assert!(apply_set(&mut root, "paths.raw_data").is_err());
    }

    #[test]
    fn unset_removes_a_key_that_is_there() {
        let mut root = yaml("stages:\n  - {name: x, plugin: a.wasm, sha256: ab, config: {k: 1, j: 2}}\n");
        apply_unset(&mut root, "stages.x.sha256").unwrap();
        apply_unset(&mut root, "stages.x.config.k").unwrap();
        assert_eq!(root, yaml("stages:\n  - {name: x, plugin: a.wasm, config: {j: 2}}\n"));
        assert_eq!(
            apply_unset(&mut root, "stages.x.sha256").unwrap_err().to_string(),
            "--unset stages.x.sha256: there is no `sha256` to remove"
        );
        assert_eq!(
            apply_unset(&mut root, "stages.x.limits.memory_bytes").unwrap_err().to_string(),
            "--unset stages.x.limits.memory_bytes: there is no `limits`"
        );
    }
}
