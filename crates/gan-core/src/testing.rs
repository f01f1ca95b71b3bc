//! What model crates' tests share: a quiet run, a run's logged losses, and a test that needs
//! second-order gradients run in a process of its own.

use std::path::Path;
use std::process::Command;

use crate::metrics::read_records;
use crate::trainer::METRICS_FILE;
use crate::RunOptions;

/// The environment variable candle reads, once per thread, to keep the graph of gradients.
const SECOND_ORDER: &str = "CANDLE_GRAD_DO_NOT_DETACH";

/// Options of a test run of `task`: no progress bar, a fresh start.
pub fn quiet_options(task: &str) -> RunOptions {
    RunOptions {
        quiet: true,
        task: task.to_string(),
        ..Default::default()
    }
}

/// Every record of a run's metrics log (training and evaluation), the elapsed time left out
/// (what two runs of the same seed must agree on, bit for bit).
pub fn logged_records(run_dir: &Path) -> Vec<serde_json::Value> {
    read_records(&run_dir.join(METRICS_FILE))
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|mut record| {
            if let Some(object) = record.as_object_mut() {
                object.remove("elapsed_s");
            }
            record
        })
        .collect()
}

/// The summed absolute gradient of `var` in `grads`, `None` when the backward pass did not
/// reach it (gradient-flow tests: a penalty that must train a weight).
pub fn gradient_mass(
    grads: &candle_core::backprop::GradStore,
    var: &candle_core::Var,
) -> Option<f32> {
    let g = grads.get(var)?;
    Some(
        g.abs()
            .and_then(|g| g.sum_all())
            .and_then(|g| g.to_scalar::<f32>())
            .expect("a gradient of f32s"),
    )
}

/// Runs `body`, the test `test_path` (its path inside the test binary, as the harness filters
/// on it), in a child process of the test binary started with `CANDLE_GRAD_DO_NOT_DETACH=1`:
/// candle keeps the graph of a gradient only with that set before a thread's first backward
/// pass, and a test must neither set a variable other threads read nor change how other tests
/// differentiate. Use [`second_order_test!`](crate::second_order_test).
pub fn with_second_order_gradients(test_path: &str, body: impl FnOnce()) {
    if std::env::var(SECOND_ORDER).is_ok_and(|v| v == "1") {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args(["--exact", test_path, "--test-threads", "1", "--nocapture"])
        .env(SECOND_ORDER, "1")
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test_path} with second-order gradients failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test whose body needs second-order gradients (a gradient penalty), run in a process of its
/// own by [`with_second_order_gradients`].
///
/// ```text
/// gan_core::second_order_test!(penalty_reaches_the_critic, {
///     /* a body that differentiates a gradient */
/// });
/// ```
#[macro_export]
macro_rules! second_order_test {
    ($name:ident, $body:block) => {
        #[test]
        fn $name() {
            let path = concat!(module_path!(), "::", stringify!($name));
            // The harness filters on the path inside the test binary, without the crate name.
            let path = path.split_once("::").map_or(path, |(_, inner)| inner);
            $crate::testing::with_second_order_gradients(path, || $body);
        }
    };
}
