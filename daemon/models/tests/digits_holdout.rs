//! The Burn model reproduces the reference (numpy) forward pass on the holdout set
//! written by `scripts/train_digits.py`.

use rserve_models::{DIGITS_CLASSES, Device, DigitsClassifier};

#[test]
fn matches_the_reference_on_the_holdout_set() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/digits_holdout.json"
    );
    let fixture: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let images: Vec<Vec<f32>> = fixture["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let model = DigitsClassifier::bundled(Device::Cpu).unwrap();
    let predictions = model.predict(&images).unwrap();

    let expected: Vec<u64> = fixture["expected_predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let got: Vec<u64> = predictions.iter().map(|p| u64::from(p.label)).collect();
    assert_eq!(got, expected, "predictions differ from the numpy reference");

    let labels = fixture["labels"].as_array().unwrap();
    let correct = got
        .iter()
        .zip(labels)
        .filter(|(g, l)| **g == l.as_u64().unwrap())
        .count();
    assert!(
        correct as f64 / labels.len() as f64 >= 0.96,
        "accuracy {correct}/{}",
        labels.len()
    );

    // Probabilities equal the softmax of the reference logits.
    for (row, logits) in fixture["numpy_logits_first8"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let logits: Vec<f64> = logits
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let max = logits.iter().cloned().fold(f64::MIN, f64::max);
        let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        assert_eq!(predictions[row].probabilities.len(), DIGITS_CLASSES);
        for (k, e) in exp.iter().enumerate() {
            let diff = (f64::from(predictions[row].probabilities[k]) - e / sum).abs();
            assert!(diff < 1e-5, "row {row} class {k}: off by {diff}");
        }
    }
}
