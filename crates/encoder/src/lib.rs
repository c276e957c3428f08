//! onewindow's text encoder: multilingual-e5-small run by candle-transformers' BERT.
//!
//! The weights file keeps the source package's Q4_0 blocks (`tools/prepare_encoder.py`): every `U8`
//! tensor of shape `[rows, blocks × 18]` is a matrix of `[rows, blocks × 32]` values, dequantised
//! here once at load. Embeddings follow the e5 convention: a `query: ` or `passage: ` prefix, mean
//! pooling of the last hidden state over the attention mask, L2 normalisation.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

/// Values per Q4_0 block and bytes per block (an f16 scale and 16 bytes of 4-bit values).
const QK: usize = 32;
const BLOCK_BYTES: usize = 18;
/// Texts tokenised longer than this are cut (callers may cut shorter): the opening of a document
/// names what it is, and the cost of a forward pass grows with every token.
pub const DEFAULT_MAX_TOKENS: usize = 256;
/// Texts embedded in one forward pass; sorted by length first, so padding stays small.
const BATCH: usize = 8;

/// Which e5 prefix a text gets: the model was trained with both and they matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Query,
    Passage,
}

impl Role {
    fn prefix(self) -> &'static str {
        match self {
            Role::Query => "query: ",
            Role::Passage => "passage: ",
        }
    }
}

pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dim: usize,
    eos: u32,
}

/// Q4_0 rows back to f32: value j < 16 of a block is `(low nibble of byte j − 8) · d`, value 16 + j
/// is `(high nibble − 8) · d`.
pub fn dequantize_q4_0(bytes: &[u8], rows: usize) -> anyhow::Result<(Vec<f32>, usize)> {
    if rows == 0 || !bytes.len().is_multiple_of(rows) || !(bytes.len() / rows).is_multiple_of(BLOCK_BYTES) {
        bail!("{} bytes are not {rows} rows of Q4_0 blocks", bytes.len());
    }
    let cols = bytes.len() / rows / BLOCK_BYTES * QK;
    let mut out = Vec::with_capacity(rows * cols);
    for block in bytes.chunks_exact(BLOCK_BYTES) {
        let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
        let nibbles = &block[2..];
        out.extend(nibbles.iter().map(|b| ((b & 0x0F) as f32 - 8.0) * d));
        out.extend(nibbles.iter().map(|b| ((b >> 4) as f32 - 8.0) * d));
    }
    Ok((out, cols))
}

impl Encoder {
    /// Load `config.json`, `tokenizer.json` and `e5.safetensors` from `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        Self::from_files(|name| std::fs::read(dir.join(name)).with_context(|| format!("reading {}", dir.join(name).display())))
    }

    /// Load from the contents `read` gives for each file name (`config.json`, `tokenizer.json`,
    /// `e5.safetensors`): the bytes a caller has already checked, not a second read of a file
    /// that may have changed since.
    pub fn from_files<B: AsRef<[u8]>>(read: impl Fn(&str) -> anyhow::Result<B>) -> anyhow::Result<Self> {
        let device = Device::Cpu;
        let config: Config = serde_json::from_slice(read("config.json")?.as_ref()).context("config.json is not a BERT configuration")?;
        let weights_path = "e5.safetensors";
        let raw = candle_core::safetensors::load_buffer(read(weights_path)?.as_ref(), &device)
            .with_context(|| format!("parsing {weights_path}"))?;
        let mut tensors = HashMap::with_capacity(raw.len());
        for (name, tensor) in raw {
            let tensor = match tensor.dtype() {
                DType::U8 => {
                    let (rows, _) = tensor.dims2().with_context(|| format!("{name}: a Q4_0 tensor must be two-dimensional"))?;
                    let (values, cols) = dequantize_q4_0(&tensor.flatten_all()?.to_vec1::<u8>()?, rows).with_context(|| name.clone())?;
                    Tensor::from_vec(values, (rows, cols), &device)?
                }
                DType::F32 => tensor,
                other => bail!("{name}: unexpected dtype {other:?} in {weights_path}"),
            };
            tensors.insert(name, tensor);
        }
        let vocab = tensors.get("embeddings.word_embeddings.weight").map(|t| t.dims()[0]);
        if vocab != Some(config.vocab_size) {
            bail!("{weights_path}: word embeddings have {vocab:?} rows, the configuration says {}", config.vocab_size);
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let model = BertModel::load(vb, &config).with_context(|| format!("{weights_path} is not a BERT checkpoint"))?;

        let tokenizer_path = "tokenizer.json";
        let mut tokenizer =
            Tokenizer::from_bytes(read(tokenizer_path)?.as_ref()).map_err(|e| anyhow::anyhow!("parsing {tokenizer_path}: {e}"))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: DEFAULT_MAX_TOKENS, ..Default::default() }))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tokenizer.with_padding(None);
        if tokenizer.get_vocab_size(true) != config.vocab_size {
            bail!("{tokenizer_path} has {} pieces, the weights {}", tokenizer.get_vocab_size(true), config.vocab_size);
        }
        let eos = tokenizer.token_to_id("</s>").with_context(|| format!("{tokenizer_path} has no </s>"))?;
        Ok(Self { model, tokenizer, device, dim: config.hidden_size, eos })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The token ids a text is embedded from (prefix, truncation and special tokens included).
    pub fn token_ids(&self, text: &str, role: Role) -> anyhow::Result<Vec<u32>> {
        let encoding = self.tokenizer.encode(format!("{}{text}", role.prefix()), true).map_err(|e| anyhow::anyhow!("tokenising: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// One unit-length embedding per text, in the order given.
    pub fn embed(&self, texts: &[&str], role: Role) -> anyhow::Result<Vec<Vec<f32>>> {
        self.embed_cut(texts, role, DEFAULT_MAX_TOKENS)
    }

    /// As [`Encoder::embed`], each text cut to its first `max_tokens` tokens (special tokens included).
    pub fn embed_cut(&self, texts: &[&str], role: Role, max_tokens: usize) -> anyhow::Result<Vec<Vec<f32>>> {
        let max_tokens = max_tokens.clamp(2, DEFAULT_MAX_TOKENS);
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| {
                let mut ids = self.token_ids(t, role)?;
                if ids.len() > max_tokens {
                    ids.truncate(max_tokens - 1);
                    ids.push(self.eos);
                }
                Ok(ids)
            })
            .collect::<anyhow::Result<_>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            for (&i, embedding) in chunk.iter().zip(self.forward(&batch)?) {
                out[i] = embedding;
            }
        }
        Ok(out)
    }

    fn forward(&self, batch: &[&[u32]]) -> anyhow::Result<Vec<Vec<f32>>> {
        let len = batch.iter().map(|ids| ids.len()).max().unwrap_or(0);
        let (mut ids, mut mask) = (Vec::with_capacity(batch.len() * len), Vec::with_capacity(batch.len() * len));
        for row in batch {
            ids.extend(row.iter().copied().chain(std::iter::repeat_n(1, len - row.len())));
            mask.extend(std::iter::repeat_n(1u32, row.len()).chain(std::iter::repeat_n(0, len - row.len())));
        }
        let shape = (batch.len(), len);
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let hidden = self.model.forward(&ids, &ids.zeros_like()?, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let mean = summed.broadcast_div(&mask.sum(1)?)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        Ok(mean.broadcast_div(&norm)?.to_vec2::<f32>()?)
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_blocks_dequantise_low_nibbles_first() {
        // d = 0.5 (f16 0x3800); byte j = 0x9j: low nibble j, high nibble 9.
        let mut block = vec![0x00, 0x38];
        block.extend((0u8..16).map(|j| 0x90 | j));
        let (values, cols) = dequantize_q4_0(&block, 1).unwrap();
        assert_eq!(cols, 32);
        assert_eq!(values[0], -4.0);
        assert_eq!(values[15], 3.5);
        assert!(values[16..].iter().all(|&v| v == 0.5));
    }

    #[test]
    fn a_ragged_q4_0_tensor_is_an_error() {
        assert!(dequantize_q4_0(&[0u8; 17], 1).is_err());
        assert!(dequantize_q4_0(&[0u8; 36], 3).is_err());
    }
}
