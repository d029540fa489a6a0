//! Entry points for the fuzz targets (`fuzz/`): the model-file readers, run
//! on bytes as a load runs them, short of building the model. Not an API.

use crate::gguf::Gguf;

/// Largest tensor a GGUF target dequantises (inputs are small; a directory
/// that claims more than the file holds is refused by the parser).
const MAX_DEQUANTIZED: usize = 1 << 20;

/// A GGUF file: header, metadata and tensor directory; each tensor's bytes
/// dequantised; the llama hyper-parameters; the tokenizer and chat template
/// built from the metadata, then used once.
pub fn gguf(bytes: &[u8]) {
    let Ok(g) = Gguf::parse(bytes) else { return };
    for (name, info) in &g.tensors {
        if info.len <= MAX_DEQUANTIZED {
            let _ = g.f32(name, &info.dims);
        }
    }
    let Ok(config) = crate::LlamaConfig::from_gguf(&g) else {
        return;
    };
    if let Ok(text) = crate::chat::ChatText::from_gguf(&g, config)
        && let Ok(ids) = text.tokenize("Hello, <|im_start|>world!")
    {
        let _ = text.detokenize(&ids);
    }
}

/// A safetensors file: parsed, and every f32 tensor read at its own shape.
pub fn safetensors(bytes: &[u8]) {
    let Ok(weights) = crate::weights::Weights::parse("fuzz", bytes) else {
        return;
    };
    for (name, shape) in weights.shapes() {
        let _ = weights.f32(&name, &shape);
    }
}
