//! Artifacts written, read, followed while written and summed, through the module's API.

use std::error::Error as _;
use std::time::Duration;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};

use super::*;
use crate::sinks::test_util::Scratch;

fn batch(from: i64, rows: i64) -> RecordBatch {
    let ids: Vec<String> = (from..from + rows).map(|i| format!("id-{i}")).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(ids)) as ArrayRef),
        ("n", Arc::new(Int64Array::from_iter_values(from..from + rows)) as ArrayRef),
    ])
    .unwrap()
}

#[test]
fn counts_rows_from_headers_and_reads_only_the_columns_asked_for() {
    let scratch = Scratch::new("artifacts");
    let artifacts = Artifacts::new(scratch.path(), "r1");
    artifacts.reset_stage("s").unwrap();
    let mut writers = PortWriters::default();
    // The last batch is large enough to be mapped rather than read.
    for (from, rows) in [(0, 3), (3, 0), (3, 1000), (1003, 1), (1004, 20_000)] {
        writers.write(&artifacts, "s", "out", &batch(from, rows)).unwrap();
    }
    writers.finish(&artifacts, "s").unwrap();

    assert_eq!(artifacts.count_rows("s", "out").unwrap(), 21_004);
    assert_eq!(artifacts.count_rows("s", "missing").unwrap(), 0);
    let read: Vec<RecordBatch> = artifacts.read("s", "out").unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(ids(&read), (0..21_004).collect::<Vec<i64>>());

    let projected: Vec<RecordBatch> =
        artifacts.read_columns("s", "out", &["n"]).unwrap().collect::<Result<_, _>>().unwrap();
    assert!(projected.iter().all(|b| b.num_columns() == 1 && b.schema().field(0).name() == "n"));
    assert_eq!(projected.iter().map(RecordBatch::num_rows).sum::<usize>(), 21_004);
    let mut missing = artifacts.read_columns("s", "out", &["nope"]).unwrap();
    let error = missing.next().unwrap().unwrap_err();
    assert!(matches!(&error, ArtifactError::NoColumn { column, .. } if column == "nope"), "{error:?}");
    assert_eq!(error.to_string(), format!("artifact {}: no column `nope`", artifacts.path("s", "out").display()));
    assert!(missing.next().is_none(), "a reader ends at its first error");

    // A stream cut short is an error, not a smaller count.
    let path = artifacts.path("s", "out");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    let error = artifacts.count_rows("s", "out").unwrap_err();
    assert_eq!((error.stage(), error.port(), error.path()), ("s", "out", Some(path.as_path())));
    assert_eq!(error.to_string(), format!("artifact {}: cannot read: truncated stream", path.display()));
    let source = error.source().and_then(|e| e.downcast_ref::<std::io::Error>()).expect("the I/O error is kept");
    assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof);
    let error = artifacts.read("s", "out").unwrap().find_map(Result::err).unwrap();
    assert!(error.to_string().ends_with("cannot read: truncated stream"), "{error}");
    // What a caller that still reports text sees.
    assert_eq!(String::from(error), format!("artifact {}: cannot read: truncated stream", path.display()));
}

fn amounts(scale: i8, values: &[Option<i128>]) -> RecordBatch {
    let array = arrow_array::Decimal128Array::from(values.to_vec()).with_precision_and_scale(38, scale).unwrap();
    RecordBatch::try_from_iter([("amount", Arc::new(array) as ArrayRef)]).unwrap()
}

#[test]
fn records_the_sums_of_decimal_columns_and_falls_back_to_reading_them() {
    let scratch = Scratch::new("artifacts");
    let artifacts = Artifacts::new(scratch.path(), "r1");
    artifacts.reset_stage("s").unwrap();
    let mut writers = PortWriters::default();
    writers.write(&artifacts, "s", "out", &amounts(2, &[Some(150), None, Some(-25)])).unwrap();
    writers.write(&artifacts, "s", "out", &amounts(2, &[Some(1)])).unwrap();
    writers.write(&artifacts, "s", "big", &amounts(0, &[Some(i128::MAX), Some(1)])).unwrap();
    writers.finish(&artifacts, "s").unwrap();

    let expected = DecimalSum { scale: 2, sum: Some(126) };
    assert_eq!(artifacts.decimal_sum("s", "out", "amount").unwrap(), expected);
    // Past 128 bits the sum is unknown, not wrapped.
    assert_eq!(artifacts.decimal_sum("s", "big", "amount").unwrap().sum, None);
    // Without (or with an unreadable) record, the column is read and summed the same way.
    let record = artifacts.sums_path("s", "out");
    std::fs::write(&record, b"{\"columns\":").unwrap();
    assert_eq!(artifacts.decimal_sum("s", "out", "amount").unwrap(), expected);
    std::fs::remove_file(&record).unwrap();
    assert_eq!(artifacts.decimal_sum("s", "out", "amount").unwrap(), expected);
    let error = artifacts.decimal_sum("s", "out", "nope").unwrap_err();
    assert!(error.to_string().ends_with("no column `nope`"), "{error}");
    write_ids(&artifacts);
    let error = artifacts.decimal_sum("t", "out", "n").unwrap_err();
    assert!(matches!(error, ArtifactError::NotDecimal { .. }), "{error:?}");
    assert_eq!(error.to_string(), "column `n` of t.out is Int64, not a decimal");
    // An output never written sums to zero.
    assert_eq!(artifacts.decimal_sum("s", "missing", "amount").unwrap().sum, Some(0));
}

/// Writes a few rows without decimal columns to `t.out`.
fn write_ids(artifacts: &Artifacts) {
    artifacts.reset_stage("t").unwrap();
    let mut writers = PortWriters::default();
    writers.write(artifacts, "t", "out", &batch(0, 3)).unwrap();
    writers.finish(artifacts, "t").unwrap();
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches.iter().flat_map(|b| b.column(1).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()).collect()
}

/// Reads `port` of `stage` on another thread, following it, and sends each batch's rows as
/// they arrive; the last message is the end (`Ok(None)`) or the error.
fn follower(
    artifacts: &Artifacts,
    follow: &Arc<Follow>,
    port: &str,
) -> std::sync::mpsc::Receiver<Result<Option<Vec<i64>>, ArtifactError>> {
    let (send, receive) = std::sync::mpsc::channel();
    let (artifacts, follow, port) = (artifacts.clone(), Arc::clone(follow), port.to_owned());
    std::thread::spawn(move || {
        let reader = match artifacts.follow("s", &port, &follow) {
            Ok(reader) => reader,
            Err(e) => return send.send(Err(e)).unwrap(),
        };
        for batch in reader {
            let message = batch.map(|b| Some(ids(&[b])));
            let failed = message.is_err();
            send.send(message).unwrap();
            if failed {
                return;
            }
        }
        send.send(Ok(None)).unwrap();
    });
    receive
}

const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn a_reader_follows_a_running_stage_batch_by_batch_and_ends_only_when_it_is_done() {
    let scratch = Scratch::new("artifacts-live");
    let artifacts = Artifacts::new(scratch.path(), "r1");
    artifacts.live().expect("s");
    let follow = Arc::new(Follow::default());
    // Opened before the stage even starts: it waits for the first batch.
    let rows = follower(&artifacts, &follow, "out");
    let nothing = follower(&artifacts, &follow, "never_written");

    artifacts.reset_stage("s").unwrap();
    artifacts.live().begin("s");
    let mut writers = PortWriters::default();
    writers.write(&artifacts, "s", "out", &batch(0, 3)).unwrap();
    assert_eq!(rows.recv_timeout(PATIENCE).unwrap().unwrap(), Some(vec![0, 1, 2]));
    writers.write(&artifacts, "s", "out", &batch(3, 2)).unwrap();
    assert_eq!(rows.recv_timeout(PATIENCE).unwrap().unwrap(), Some(vec![3, 4]));
    // Finished but not yet done: the reader must not take the stream's end for the stage's.
    writers.finish(&artifacts, "s").unwrap();
    assert!(rows.recv_timeout(Duration::from_millis(50)).is_err(), "ended before the stage was done");
    assert!(nothing.recv_timeout(Duration::from_millis(50)).is_err(), "ended before the stage was done");

    artifacts.live().done("s");
    assert_eq!(rows.recv_timeout(PATIENCE).unwrap().unwrap(), None);
    assert_eq!(nothing.recv_timeout(PATIENCE).unwrap().unwrap(), None, "a port never written has no rows");
    assert!(!follow.interrupted());
    assert!(follow.waited() > Duration::ZERO);
}

#[test]
fn a_failed_attempt_interrupts_its_readers_and_the_next_one_is_read_from_the_start() {
    let scratch = Scratch::new("artifacts-abort");
    let artifacts = Artifacts::new(scratch.path(), "r1");
    artifacts.live().expect("s");
    artifacts.reset_stage("s").unwrap();
    artifacts.live().begin("s");
    let follow = Arc::new(Follow::default());
    let rows = follower(&artifacts, &follow, "out");
    let mut writers = PortWriters::default();
    writers.write(&artifacts, "s", "out", &batch(0, 3)).unwrap();
    assert_eq!(rows.recv_timeout(PATIENCE).unwrap().unwrap(), Some(vec![0, 1, 2]));

    // The attempt fails: its reader fails too, and says so.
    drop(writers);
    artifacts.live().abort("s");
    let error = rows.recv_timeout(PATIENCE).unwrap().unwrap_err();
    assert!(matches!(&error, ArtifactError::Interrupted { stage, port, .. } if stage == "s" && port == "out"));
    assert_eq!(
        error.to_string(),
        format!("artifact {}: stage \"s\" failed while this output was read", artifacts.path("s", "out").display())
    );
    assert!(follow.interrupted());

    // A reader opened between attempts waits for the next one and reads only it.
    let again = Arc::new(Follow::default());
    let rows = follower(&artifacts, &again, "out");
    artifacts.reset_stage("s").unwrap();
    artifacts.live().begin("s");
    let mut writers = PortWriters::default();
    writers.write(&artifacts, "s", "out", &batch(10, 2)).unwrap();
    writers.finish(&artifacts, "s").unwrap();
    artifacts.live().done("s");
    assert_eq!(rows.recv_timeout(PATIENCE).unwrap().unwrap(), Some(vec![10, 11]));
    assert_eq!(rows.recv_timeout(PATIENCE).unwrap().unwrap(), None);
    assert!(!again.interrupted());

    // A stage that will not run again fails whoever waits for it.
    artifacts.live().expect("s");
    let rows = follower(&artifacts, &again, "out");
    artifacts.live().fail("s");
    assert!(matches!(rows.recv_timeout(PATIENCE).unwrap(), Err(ArtifactError::Interrupted { .. })));
}

#[test]
fn waiting_for_stages_ends_when_they_succeed_or_nothing_runs_any_more() {
    let scratch = Scratch::new("artifacts-wait");
    let artifacts = Artifacts::new(scratch.path(), "r1");
    for stage in ["a", "b"] {
        artifacts.live().expect(stage);
    }
    let waiter = |stages: &'static [&'static str]| {
        let (send, receive) = std::sync::mpsc::channel();
        let artifacts = artifacts.clone();
        std::thread::spawn(move || {
            artifacts.live().wait_finished(stages);
            send.send(()).unwrap();
        });
        receive
    };
    // A stage this run does not write is finished already.
    waiter(&["elsewhere"]).recv_timeout(PATIENCE).unwrap();

    let both = waiter(&["a", "b"]);
    artifacts.live().begin("a");
    artifacts.live().done("a");
    assert!(both.recv_timeout(Duration::from_millis(50)).is_err(), "ended while b had not run");
    // An attempt that fails and one that will not run again: still waiting.
    artifacts.live().begin("b");
    artifacts.live().abort("b");
    artifacts.live().fail("b");
    assert!(both.recv_timeout(Duration::from_millis(50)).is_err(), "ended while b's run was not over");
    artifacts.live().settle();
    both.recv_timeout(PATIENCE).unwrap();

    artifacts.live().expect("a");
    let one = waiter(&["a"]);
    artifacts.live().begin("a");
    artifacts.live().done("a");
    one.recv_timeout(PATIENCE).unwrap();
}
