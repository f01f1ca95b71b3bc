//! `cargo xtask cuda-build`: socgan with CUDA, built on a machine without a GPU.
//!
//! The CUDA compiler, headers and libraries come as NVIDIA's PyPI wheels, pinned to CUDA 13.0.x
//! (the driver of the GPU machines is 580, CUDA 13.0: a newer minor version's PTX may be refused
//! by it), installed with pip into `.cuda-toolkit/` (ignored by git). The build links against the
//! CUDA libraries (candle builds cudarc with dynamic linking), and the driver library is not in
//! any wheel: a stub `libcuda.so` (every `cu*` function of `cuda.h`, empty, soname `libcuda.so.1`)
//! stands in for it at link time, and the real driver is loaded at run time. The build goes into
//! `target/cuda/` so that it does not evict the CPU build; the stripped binary is
//! `target/cuda/socgan`, and `target/cuda/socgan.gz` the same compressed to travel to a GPU
//! machine (the kernels make the binary larger than what may be carried there).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::workspace_root;

/// The wheels of the toolkit, pinned to CUDA 13.0.x (what PyTorch's CUDA 13.0 builds use).
const WHEELS: [&str; 8] = [
    "nvidia-cuda-nvcc==13.0.88",
    "nvidia-nvvm==13.0.88",
    "nvidia-cuda-crt==13.0.88",
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-cuda-nvrtc==13.0.88",
    "nvidia-cuda-cccl==13.0.85",
    "nvidia-cublas==13.0.2.14",
    "nvidia-curand==10.4.0.35",
];

/// The file that marks `.cuda-toolkit/` as made by this task, listing its wheels: a folder
/// without it is not replaced.
const MARKER: &str = "socgan-wheels.txt";
/// The file that marks an install in progress (`.cuda-toolkit.partial/`).
const STAGING_MARKER: &str = "socgan-staging";

/// Libraries the binary links against, by the version-less name the linker looks for.
const LINKED: [(&str, &str); 5] = [
    ("libcudart.so", "libcudart.so.13"),
    ("libnvrtc.so", "libnvrtc.so.13"),
    ("libcublas.so", "libcublas.so.13"),
    ("libcublasLt.so", "libcublasLt.so.13"),
    ("libcurand.so", "libcurand.so.10"),
];

/// H100 and H200.
pub const DEFAULT_COMPUTE_CAP: u32 = 90;

/// `cargo xtask cuda-build` options.
#[derive(clap::Args)]
pub struct CudaBuildArgs {
    /// Compute capability the kernels are compiled for (90: H100 and H200).
    #[arg(long, default_value_t = DEFAULT_COMPUTE_CAP)]
    compute_cap: u32,
    /// Then run the CPU/CUDA agreement tests (socgan-nn's ops, every model crate's runs through
    /// the binary) with the same toolkit: on a machine with a GPU and a Rust toolchain.
    #[arg(long)]
    test: bool,
}

/// The toolkit's CUDA root, inside the pip target folder.
fn toolkit_root() -> PathBuf {
    workspace_root().join(".cuda-toolkit")
}

fn cuda_root() -> PathBuf {
    toolkit_root().join("nvidia/cu13")
}

/// Where the CUDA build goes (beside, not over, the CPU build).
pub fn cuda_target_dir() -> PathBuf {
    workspace_root().join("target/cuda")
}

pub fn run(args: CudaBuildArgs) -> Result<(), String> {
    let started = Instant::now();
    let mut cargo = cargo_with_toolkit(args.compute_cap)?;
    let status = cargo
        .args([
            "build",
            "--release",
            "--package",
            "socgan",
            "--features",
            "cuda",
        ])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("the CUDA build failed".into());
    }
    let built = cuda_target_dir().join("release/socgan");
    let stripped = cuda_target_dir().join("socgan");
    run_tool(
        Command::new("strip")
            .arg("--strip-all")
            .arg(&built)
            .arg("-o")
            .arg(&stripped),
    )?;
    let compressed = cuda_target_dir().join("socgan.gz");
    gzip(&stripped, &compressed)?;
    let size = |path: &Path| {
        fs::metadata(path)
            .map(|m| m.len() as f64 / 1e6)
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    println!(
        "built {} ({:.1} MB stripped, {:.1} MB as {}; sm_{}) in {:.0} s",
        stripped.display(),
        size(&stripped)?,
        size(&compressed)?,
        compressed.display(),
        args.compute_cap,
        started.elapsed().as_secs_f64()
    );
    if args.test {
        // The test binaries load the toolkit's CUDA libraries (never the driver stub).
        let library_path = std::env::join_paths(std::iter::once(cuda_root().join("lib")).chain(
            std::env::split_paths(&std::env::var_os("LD_LIBRARY_PATH").unwrap_or_default()),
        ))
        .map_err(|e| format!("LD_LIBRARY_PATH: {e}"))?;
        let status = cargo_with_toolkit(args.compute_cap)?
            .env("LD_LIBRARY_PATH", library_path)
            .args(["test", "--package", "socgan-nn", "--package", "socgan"])
            .args([
                "--features",
                "socgan-nn/cuda,socgan/cuda",
                "--",
                "cuda_agreement",
            ])
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err("the CPU/CUDA agreement tests failed".into());
        }
    }
    println!("on a GPU machine it needs the CUDA 13 libraries on LD_LIBRARY_PATH (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libnvrtc.so.13, libcurand.so.10: PyTorch's nvidia/cu13/lib has them)");
    Ok(())
}

/// `cargo` with the toolkit on PATH and the variables cudarc and candle-kernels read, building
/// into `target/cuda/`; installs the toolkit first when it is missing.
pub fn cargo_with_toolkit(compute_cap: u32) -> Result<Command, String> {
    ensure_toolkit()?;
    let root = cuda_root();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![root.join("bin")];
    paths.extend(std::env::split_paths(&path));
    let path = std::env::join_paths(paths).map_err(|e| format!("PATH: {e}"))?;
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(workspace_root())
        .env("PATH", path)
        .env("CUDA_ROOT", &root)
        .env("CUDA_HOME", &root)
        .env("CUDA_PATH", &root)
        .env("CUDA_COMPUTE_CAP", compute_cap.to_string())
        .env("CARGO_TARGET_DIR", cuda_target_dir());
    Ok(cargo)
}

/// Installs the pinned wheels (unless `.cuda-toolkit/` already holds exactly them) and the link
/// stubs.
fn ensure_toolkit() -> Result<(), String> {
    let dir = toolkit_root();
    let wanted = WHEELS.join("\n") + "\n";
    let marker = dir.join(MARKER);
    match fs::read_to_string(&marker) {
        Ok(listed) if listed == wanted => {}
        Ok(_) => {
            println!("{}: other wheels; reinstalling", dir.display());
            install_wheels(&dir, &wanted)?;
        }
        Err(_) if dir.exists() => {
            return Err(format!(
            "{} exists but was not made by `cargo xtask cuda-build` (no {MARKER}); move it away",
            dir.display()
        ))
        }
        Err(_) => install_wheels(&dir, &wanted)?,
    }
    write_link_stubs(&cuda_root())
}

/// pip into a staging folder, swapped into place once complete: a cut or failed install leaves
/// the previous toolkit (ours, by its marker) as it was.
fn install_wheels(dir: &Path, listing: &str) -> Result<(), String> {
    let staging = dir.with_extension("partial");
    remove_if_ours(&staging, STAGING_MARKER)?;
    fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    fs::write(staging.join(STAGING_MARKER), "").map_err(|e| format!("{STAGING_MARKER}: {e}"))?;
    println!(
        "installing the CUDA 13.0 toolkit wheels into {}",
        dir.display()
    );
    run_tool(
        Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--no-deps", "--target"])
            .arg(&staging)
            .args(WHEELS),
    )?;
    fs::write(staging.join(MARKER), listing).map_err(|e| format!("{MARKER}: {e}"))?;
    fs::remove_file(staging.join(STAGING_MARKER)).map_err(|e| format!("{STAGING_MARKER}: {e}"))?;
    remove_if_ours(dir, MARKER)?;
    fs::rename(&staging, dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Removes `dir` if it holds `marker` (this task made it); refuses a folder without it.
fn remove_if_ours(dir: &Path, marker: &str) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.join(marker).exists() {
        return Err(format!(
            "{} exists but was not made by `cargo xtask cuda-build` (no {marker}); move it away",
            dir.display()
        ));
    }
    fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// `lib/stubs/`: the driver stub and version-less links to the libraries, where cudarc's build
/// script looks (`$CUDA_ROOT/lib/stubs`).
fn write_link_stubs(root: &Path) -> Result<(), String> {
    let stubs = root.join("lib/stubs");
    fs::create_dir_all(&stubs).map_err(|e| format!("{}: {e}", stubs.display()))?;
    for (link, target) in LINKED {
        let path = stubs.join(link);
        if fs::symlink_metadata(&path).is_err() {
            std::os::unix::fs::symlink(Path::new("..").join(target), &path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let driver = stubs.join("libcuda.so");
    if driver.exists() {
        return Ok(());
    }
    let source = stubs.join("libcuda_stub.c");
    fs::write(&source, driver_stub_source(root)?)
        .map_err(|e| format!("{}: {e}", source.display()))?;
    run_tool(
        Command::new("cc")
            .args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
            .arg(&driver)
            .arg(&source),
    )
}

/// An empty C function for every driver API name `cuda.h` declares (with the internal macro set,
/// so that both the plain and the `_v2` names are declared).
fn driver_stub_source(root: &Path) -> Result<String, String> {
    let out = Command::new("cc")
        .args(["-E", "-D__CUDA_API_VERSION_INTERNAL", "-x", "c", "-I"])
        .arg(root.join("include"))
        .arg(root.join("include/cuda.h"))
        .output()
        .map_err(|e| format!("cannot run cc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "preprocessing cuda.h failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let names = driver_function_names(&String::from_utf8_lossy(&out.stdout));
    if names.is_empty() {
        return Err("no driver functions found in cuda.h".into());
    }
    Ok(names
        .iter()
        .map(|name| format!("void {name}(void) {{}}\n"))
        .collect())
}

/// Names `cuXxx` directly followed by `(`: the declared functions of the preprocessed header.
fn driver_function_names(preprocessed: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let bytes = preprocessed.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i + 2 < bytes.len() {
        let starts_word = i == 0 || !is_ident(bytes[i - 1]);
        if starts_word
            && bytes[i] == b'c'
            && bytes[i + 1] == b'u'
            && bytes[i + 2].is_ascii_uppercase()
        {
            let end = (i..bytes.len())
                .find(|&j| !is_ident(bytes[j]))
                .unwrap_or(bytes.len());
            let rest = preprocessed[end..].trim_start();
            if rest.starts_with('(') {
                names.insert(preprocessed[i..end].to_string());
            }
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

/// `source` gzip-compressed into `target` (written whole, then renamed into place).
fn gzip(source: &Path, target: &Path) -> Result<(), String> {
    let bytes = fs::read(source).map_err(|e| format!("{}: {e}", source.display()))?;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::best(),
    );
    std::io::Write::write_all(&mut encoder, &bytes).map_err(|e| format!("gzip: {e}"))?;
    let packed = encoder.finish().map_err(|e| format!("gzip: {e}"))?;
    let staging = target.with_extension("gz.partial");
    fs::write(&staging, packed).map_err(|e| format!("{}: {e}", staging.display()))?;
    fs::rename(&staging, target).map_err(|e| format!("{}: {e}", target.display()))
}

fn run_tool(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("{:?} failed", command.get_program()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_folder_this_task_marked_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        fs::create_dir(&theirs).unwrap();
        fs::write(theirs.join("notes.txt"), "keep").unwrap();
        let err = remove_if_ours(&theirs, MARKER).unwrap_err();
        assert!(
            err.contains("was not made by `cargo xtask cuda-build`"),
            "{err}"
        );
        assert!(theirs.join("notes.txt").is_file());
        let ours = dir.path().join("ours");
        fs::create_dir(&ours).unwrap();
        fs::write(ours.join(MARKER), "").unwrap();
        remove_if_ours(&ours, MARKER).unwrap();
        assert!(!ours.exists());
        remove_if_ours(&ours, MARKER).unwrap();
    }

    #[test]
    fn driver_names_are_the_declared_functions_only() {
        let header = "CUresult cuInit(unsigned int Flags);\n\
                      CUresult  cuCtxCreate_v2 (CUcontext *pctx);\n\
                      typedef struct CUctx_st *CUcontext;\n\
                      int xcuFake(void); cudaMalloc(void);";
        let names: Vec<_> = driver_function_names(header).into_iter().collect();
        assert_eq!(names, ["cuCtxCreate_v2", "cuInit"]);
    }
}
