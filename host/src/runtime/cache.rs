//! The on-disk cache of compiled components, keyed by the wasm's sha256 and the engine's
//! compatibility hash (which covers the wasmtime version and every codegen setting).
//!
//! Compiling a 2 MB plugin takes seconds; loading its cached artifact takes about a millisecond.
//! Loading an artifact runs native code produced from it, so the cache directory is created
//! private to the user (0700) and entries are written atomically (temporary file, then rename).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::LoadError;

#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// Opens (creating if needed) the cache for `engine` under `root`.
    pub fn open(root: &Path, engine: &Engine) -> Result<Self, LoadError> {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = root.join(format!("components-{:016x}", hasher.finish()));
        create_private_dir(&dir).map_err(|source| LoadError::Cache { path: dir.clone(), source })?;
        Ok(CompileCache { dir })
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.cwasm"))
    }

    /// The cached compilation of the wasm with digest `sha256`, if there is a usable one.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.entry(sha256);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `store` below from `Component::serialize` for an
        // engine with the same compatibility hash, into a directory only this user can write.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "discarding unusable compile cache entry");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Saves the compilation of the wasm with digest `sha256`.
    pub fn store(&self, sha256: &str, component: &Component) -> Result<(), LoadError> {
        let path = self.entry(sha256);
        let error = |source| LoadError::Cache { path: path.clone(), source };
        let bytes = component.serialize().map_err(|e| error(std::io::Error::other(e.to_string())))?;
        let tmp = self.dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
        let mut file = std::fs::File::create(&tmp).map_err(error)?;
        file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(error)?;
        std::fs::rename(&tmp, &path).map_err(error)
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
