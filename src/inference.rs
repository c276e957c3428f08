//! The project's own interfaces to its models. Reading and understanding call these traits and
//! never name candle's types; `models.rs` implements them with the shipped networks, and tests may
//! put fakes in their place.

use std::collections::BTreeMap;

/// A model run failed (not the document's fault).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InferenceError(pub String);

/// Text recognition: the pieces of text on one page image, with their positions and confidences.
pub trait Ocr: Send + Sync {
    /// Reads one image, waiting its turn when the implementation runs one image at a time.
    fn read(&self, image: &vision::RgbImage) -> Result<Vec<vision::TextLine>, InferenceError>;
    /// [`Ocr::read`], with how the page was turned before it was read (to draw its lines on the
    /// image as given). An implementation that never turns a page keeps this default.
    fn read_turned(&self, image: &vision::RgbImage) -> Result<(Vec<vision::TextLine>, vision::Turn), InferenceError> {
        Ok((self.read(image)?, vision::Turn::default()))
    }
    /// `role → sha256:…` of the weights, recorded in every decision that rests on them.
    fn digests(&self) -> BTreeMap<String, String>;
}

/// A text encoder: one unit-length embedding per text.
pub trait TextEmbedder: Send + Sync {
    /// The embedding of `text` cut to its first `max_tokens` tokens.
    fn embed(&self, text: &str, max_tokens: usize) -> Result<Vec<f32>, InferenceError>;
    /// The embeddings of several texts, in order (an encoder runs them in batches).
    fn embed_many(&self, texts: &[&str], max_tokens: usize) -> Result<Vec<Vec<f32>>, InferenceError> {
        texts.iter().map(|t| self.embed(t, max_tokens)).collect()
    }
    /// `role → sha256:…` of the weights (and of the heads fitted on them).
    fn digests(&self) -> BTreeMap<String, String>;
}
