//! What the sinks' tests share: scratch directories, reading Parquet back, listing trees.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::RecordBatch;
use arrow_cast::pretty::pretty_format_batches;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// A directory of its own under the system temp dir, removed when dropped.
#[derive(Debug)]
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("host-sinks-{}-{n}-{label}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Every file under `dir`, as sorted relative paths (`/`-separated), hidden ones included.
pub(crate) fn tree(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_str().unwrap());
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out.sort();
    out
}

/// The batches of one Parquet file, read with the arrow reader.
pub(crate) fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    reader.collect::<Result<Vec<_>, _>>().unwrap()
}

/// A Parquet file's Arrow schema as `name type nullable` lines.
pub(crate) fn schema_of(path: &Path) -> Vec<String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    builder.schema().fields().iter().map(|field| format!("{} {}", field.name(), field.data_type())).collect()
}

/// A Parquet file's rows, pretty-printed.
pub(crate) fn pretty(path: &Path) -> String {
    pretty_format_batches(&read_parquet(path)).unwrap().to_string()
}

/// Every Parquet file under `dir` with its bytes, for byte-for-byte comparisons.
pub(crate) fn file_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    tree(dir).into_iter().map(|name| (name.clone(), fs::read(dir.join(&name)).unwrap())).collect()
}
