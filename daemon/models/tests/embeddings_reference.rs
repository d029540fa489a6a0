//! all-MiniLM-L6-v2 through Burn matches sentence-transformers (PyTorch) on the
//! fixtures written by `scripts/reference.py`: identical token ids, cosine ≥ 0.999,
//! the same truncation.

mod support;

use rserve_models::EmbeddingModel;

#[test]
fn matches_sentence_transformers() {
    let model = EmbeddingModel::load(
        &support::models_dir().join("all-minilm-l6-v2"),
        support::device(),
    )
    .unwrap();
    assert_eq!((model.dimensions(), model.max_seq_length()), (384, 256));
    let fixture = support::fixture("embeddings_reference.json");
    let cases = fixture["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();

    // One batch of every case (varied lengths), and each case alone.
    let batched = model.embed(&texts).unwrap();
    for (case, got) in cases.iter().zip(&batched) {
        let name = case["name"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            model.tokenize(text).unwrap(),
            support::ids(&case["token_ids_full"]),
            "{name}: token ids"
        );
        assert_eq!(
            got.tokens,
            support::ids(&case["token_ids_truncated"]).len(),
            "{name}: tokens after truncation"
        );
        assert_eq!(
            got.truncated(),
            case["truncated"].as_bool().unwrap(),
            "{name}: truncation reported"
        );
        let reference: Vec<f32> = case["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let alone = model.embed(&[text]).unwrap().remove(0);
        for (how, vector) in [("batched", &got.vector), ("alone", &alone.vector)] {
            let cos: f32 = vector
                .iter()
                .zip(&reference)
                .map(|(a, b)| a * b)
                .sum::<f32>()
                / reference.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!(cos >= 0.999, "{name} ({how}): cosine {cos}");
            let max_diff = vector
                .iter()
                .zip(&reference)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(max_diff < 1e-3, "{name} ({how}): max abs diff {max_diff}");
        }
    }
    assert!(
        cases.iter().any(|c| c["truncated"].as_bool().unwrap()),
        "the fixture has an over-length case"
    );
}

#[test]
fn bad_model_directories_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = EmbeddingModel::load(dir.path(), support::device())
        .unwrap_err()
        .to_string();
    assert!(err.contains("config.json"), "{err}");
    // A truncated weights file names the file.
    let src = support::models_dir().join("all-minilm-l6-v2");
    for f in ["config.json", "tokenizer.json", "sentence_bert_config.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let weights = std::fs::read(src.join("model.safetensors")).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        &weights[..weights.len() / 3],
    )
    .unwrap();
    let err = EmbeddingModel::load(dir.path(), support::device())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("not a valid safetensors"),
        "{err}"
    );
}

/// Warm-up (run at replica start on GPUs) covers lengths 8..=256 and batch sizes
/// within the budget, and leaves the model's answers as they were.
#[test]
fn warm_up_runs_every_shape_and_changes_nothing() {
    let model = EmbeddingModel::load(
        &support::models_dir().join("all-minilm-l6-v2"),
        support::device(),
    )
    .unwrap();
    let text = "Warm-up must not change what the model answers.";
    let before = model.embed(&[text]).unwrap();
    // Lengths 8, 16, ..., 256 × batch sizes 1, 2, 4, within 512 tokens per call:
    // every batch size up to 128 tokens (5 × 3), then 256 × 1 and 256 × 2.
    assert_eq!(model.warm_up(4, 512), 17);
    assert_eq!(model.embed(&[text]).unwrap(), before);
}

#[test]
fn a_load_counts_its_steps_to_the_end() {
    let progress = rserve_models::LoadProgress::default();
    EmbeddingModel::load_with_progress(
        &support::models_dir().join("all-minilm-l6-v2"),
        support::device(),
        rserve_models::Dtype::F32,
        &progress,
    )
    .unwrap();
    // Reading the weights, 6 encoder layers, the embeddings.
    assert_eq!(progress.get(), Some((8, 8)));
}

#[test]
fn a_text_far_over_the_limit_is_cut_before_it_is_tokenized() {
    let model = EmbeddingModel::load(
        &support::models_dir().join("all-minilm-l6-v2"),
        support::device(),
    )
    .unwrap();
    let encoder = model.encoder();
    // 5 MB, a million words: tokenized whole, a million tokens.
    let huge = "word ".repeat(1_000_000);
    let encoded = encoder.encode(&huge).unwrap();
    assert!(encoded.input_tokens > 256, "still reported as truncated");
    assert!(
        encoded.input_tokens < 100_000,
        "cut first: {} tokens",
        encoded.input_tokens
    );
    // The tokens the model sees are those of the whole text.
    let short = encoder.encode(&"word ".repeat(1000)).unwrap();
    assert_eq!(encoded.ids, short.ids);
    assert_eq!(encoded.ids.len(), 256);
}
