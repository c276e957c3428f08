//! The OCR pipeline: detect text lines, crop and deskew each, turn upside-down lines the right way
//! up, recognise them in batches of similar width, and decode the CTC output with a confidence per
//! line. Preprocessing follows the reference pipeline of the registry package the networks come
//! from, so that the same image gives the same text.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::geometry::{db_boxes, order_corners, reading_order, DbParams, Quad};
use crate::graph::Graph;
use crate::image::RgbImage;

/// Every network takes `(v/255 - 0.5) / 0.5` per channel (the package's configuration).
const HALF: [f32; 3] = [0.5, 0.5, 0.5];

#[derive(Debug, Clone)]
pub struct OcrOptions {
    /// The detector sees the image scaled so that its shorter side is at least this.
    pub det_min_side: usize,
    /// Images are first scaled down so that their longer side is at most this.
    pub max_side: usize,
    /// The detector sees only the window of the page with content (edges stronger than
    /// `content_threshold` levels of brightness), widened by `content_margin` pixels.
    pub content_threshold: u32,
    pub content_margin: usize,
    pub db: DbParams,
    /// Text height the recogniser expects.
    pub rec_height: usize,
    /// Minimum recogniser input width: a batch of short pieces (table cells, numbers) is padded to
    /// it. The reference pipeline pads to 320; 160 reads the same text on the benchmark's photo and
    /// scan (`onewindow bench --ocr`) and the same values from the photo fixtures, and makes the
    /// one-page scan 18% faster. The confidences of short cells shift a little either way, which
    /// is what the second reading below is for.
    pub rec_min_width: usize,
    /// A piece read with less confidence than `reread_below` whose input was padded to fit is read
    /// once more, padded to `reread_min_width` (the reference pipeline's width). Two readings of
    /// the same text keep the surer confidence; two different texts keep the surer text with the
    /// lower confidence, so the doubt stays visible.
    pub reread_below: f32,
    pub reread_min_width: usize,
    /// At most this many pieces share a recogniser batch ...
    pub rec_batch: usize,
    /// ... and none of them is more than this many times as wide (after padding to the minimum)
    /// as the narrowest, so that padding stays a small part of every batch. Fixed batches of
    /// `rec_batch` put a 490 px line beside a 1077 px one on the benchmark's scan.
    pub rec_batch_spread: f32,
    /// Classifier input size and the probability above which a line is turned 180°.
    pub cls_width: usize,
    pub cls_thresh: f32,
    /// Lines recognised with a lower confidence are dropped, as the reference pipeline does.
    pub min_line_confidence: f32,
    /// A page with more text boxes than this is not recognised at all ([`OverBudget`]): an
    /// A4 page of dense tables has a few hundred; an image of thousands of dashes is no document
    /// and would hold a core for a minute.
    pub max_pieces: usize,
    /// How long one page may take, checked between the stages and the recogniser's batches
    /// ([`OverBudget`] when passed); `None` for no limit.
    pub page_budget: Option<Duration>,
}

/// A page that would cost more than its budget: too many text boxes, or too long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverBudget {
    TooManyPieces { found: usize, limit: usize },
    TooSlow { limit: Duration },
}

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OverBudget::TooManyPieces { found, limit } => write!(f, "{found} text boxes on one page, more than the limit of {limit}"),
            OverBudget::TooSlow { limit } => write!(f, "reading the page took longer than its budget of {} s", limit.as_secs()),
        }
    }
}

impl std::error::Error for OverBudget {}

/// When a page's reading must end, and the budget it came from.
#[derive(Debug, Clone, Copy)]
struct Deadline(Option<(Instant, Duration)>);

impl Deadline {
    fn check(self) -> Result<()> {
        match self.0 {
            Some((at, limit)) if Instant::now() > at => Err(OverBudget::TooSlow { limit }.into()),
            _ => Ok(()),
        }
    }
}

impl Default for OcrOptions {
    fn default() -> Self {
        OcrOptions {
            det_min_side: 736,
            max_side: 2000,
            content_threshold: 32,
            content_margin: 64,
            db: DbParams::default(),
            rec_height: 48,
            rec_min_width: 160,
            reread_below: 0.95,
            reread_min_width: 320,
            rec_batch: 6,
            rec_batch_spread: 1.25,
            cls_width: 192,
            cls_thresh: 0.9,
            min_line_confidence: 0.5,
            max_pieces: 1200,
            page_budget: Some(Duration::from_secs(20)),
        }
    }
}

/// One recognised line of text, in the coordinates of the input image.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    pub text: String,
    /// Mean probability of the characters read (0 when none).
    pub confidence: f32,
    /// Where the line is, in the page's frame once turned upright (see [`Ocr::read`]).
    pub quad: Quad,
}

/// How [`Ocr::read`] turned a page before reading it: first a quarter turn clockwise
/// ([`RgbImage::rotate90_cw`]), then a half turn ([`RgbImage::rotate180`]), each or neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Turn {
    pub quarter: bool,
    pub half: bool,
}

impl Turn {
    /// A point of the turned page's frame in the frame of the image as given, `width` × `height`
    /// pixels: the turns undone, the last first.
    pub fn to_given(self, [mut x, mut y]: [f32; 2], width: usize, height: usize) -> [f32; 2] {
        let (turned_w, turned_h) = if self.quarter { (height, width) } else { (width, height) };
        if self.half {
            (x, y) = (turned_w as f32 - x, turned_h as f32 - y);
        }
        if self.quarter {
            // rotate90_cw takes the given (x, y) to (height - y, x).
            (x, y) = (y, height as f32 - x);
        }
        [x, y]
    }
}

/// One detection-and-recognition pass over a page as it lies.
struct Pass {
    lines: Vec<TextLine>,
    /// Text boxes found, boxes standing on end, lines the classifier turned.
    detected: usize,
    tall: usize,
    flipped: usize,
}

pub struct Ocr {
    det: Graph,
    cls: Graph,
    rec: Graph,
    /// Index 0 is the CTC blank.
    alphabet: Vec<String>,
    /// For each class index, the other indices of characters that mean the same once full-width
    /// forms are folded to ASCII ("（" and "(", "Ｗ" and "W"): hesitating between them is no doubt
    /// about the text.
    same_as: Vec<Vec<u32>>,
    pub options: OcrOptions,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr").field("alphabet", &self.alphabet.len()).finish()
    }
}

impl Ocr {
    /// Load `det`, `cls` and `rec` (`.json` + `.safetensors`) from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::from_files(|name| std::fs::read(dir.join(name)).with_context(|| format!("reading {}", dir.join(name).display())))
    }

    /// Load `det`, `cls` and `rec` from the contents `read` gives for each file name
    /// (`det.json`, `det.safetensors`, …): the bytes a caller has already checked, not a second
    /// read of a file that may have changed since.
    pub fn from_files<B: AsRef<[u8]>>(read: impl Fn(&str) -> Result<B>) -> Result<Self> {
        let load =
            |stem: &str| Graph::from_bytes(stem, read(&format!("{stem}.json"))?.as_ref(), read(&format!("{stem}.safetensors"))?.as_ref());
        let det = load("det")?;
        let cls = load("cls")?;
        let rec = load("rec")?;
        let ctc = rec.ctc.context("the recognition graph names no CTC layout")?;
        ensure!(ctc.blank == 0, "CTC blank at index {} is not supported", ctc.blank);
        ensure!(!rec.characters.is_empty(), "the recognition graph carries no dictionary");
        let mut alphabet = Vec::with_capacity(rec.characters.len() + 2);
        alphabet.push(String::new());
        alphabet.extend(rec.characters.iter().cloned());
        if ctc.append_space {
            alphabet.push(" ".to_string());
        }
        let same_as = equivalents(&alphabet);
        Ok(Ocr { det, cls, rec, alphabet, same_as, options: OcrOptions::default() })
    }

    pub fn alphabet_len(&self) -> usize {
        self.alphabet.len()
    }

    /// Every text line of the image, in reading order. A page photographed sideways or upside down
    /// is turned upright first (judged by its own lines: most stand on end, or most read upside
    /// down), so that rows come out top to bottom; the quads are then in the turned page's frame.
    ///
    /// A page over its budget ([`OcrOptions::max_pieces`], [`OcrOptions::page_budget`]) fails
    /// with [`OverBudget`], which callers find with `downcast_ref`.
    pub fn read(&self, image: &RgbImage) -> Result<Vec<TextLine>> {
        Ok(self.read_turned(image)?.0)
    }

    /// [`Ocr::read`], with how the page was turned, so that a caller can map the quads back onto
    /// the image as given ([`Turn::to_given`]).
    pub fn read_turned(&self, image: &RgbImage) -> Result<(Vec<TextLine>, Turn)> {
        let deadline = Deadline(self.options.page_budget.map(|limit| (Instant::now() + limit, limit)));
        let pass = self.read_pass(image, deadline)?;
        if pass.detected >= 3 && pass.tall * 2 > pass.detected {
            let turned = image.rotate90_cw();
            let again = self.read_pass(&turned, deadline)?;
            return self.upright(&turned, again, deadline, true);
        }
        self.upright(image, pass, deadline, false)
    }

    fn upright(&self, image: &RgbImage, pass: Pass, deadline: Deadline, quarter: bool) -> Result<(Vec<TextLine>, Turn)> {
        if pass.detected >= 3 && pass.flipped * 2 > pass.detected {
            return Ok((self.read_pass(&image.rotate180(), deadline)?.lines, Turn { quarter, half: true }));
        }
        Ok((pass.lines, Turn { quarter, half: false }))
    }

    fn read_pass(&self, image: &RgbImage, deadline: Deadline) -> Result<Pass> {
        deadline.check()?;
        if image.width < 2 || image.height < 2 {
            return Ok(Pass { lines: Vec::new(), detected: 0, tall: 0, flipped: 0 });
        }
        // Very large photos are scaled down first; boxes are mapped back to the original.
        let longest = image.width.max(image.height);
        let (work, scale) = if longest > self.options.max_side {
            let s = self.options.max_side as f32 / longest as f32;
            let (w, h) = (multiple_of_32(image.width as f32 * s), multiple_of_32(image.height as f32 * s));
            (image.resize(w, h), [w as f32 / image.width as f32, h as f32 / image.height as f32])
        } else {
            (image.clone(), [1.0, 1.0])
        };
        let quads: Vec<Quad> = self.detect(&work)?.into_iter().filter(|q| crop_size(q).is_some()).collect();
        // Bounded before the classifier and the recogniser run: their cost grows with the pieces.
        if quads.len() > self.options.max_pieces {
            return Err(OverBudget::TooManyPieces { found: quads.len(), limit: self.options.max_pieces }.into());
        }
        deadline.check()?;
        let tall = quads.iter().filter_map(crop_size).filter(|(w, h)| *h as f32 / *w as f32 >= 1.5).count();
        let mut crops: Vec<RgbImage> = quads.iter().filter_map(|q| crop_line(&work, q)).collect();
        let flipped = self.orient(&mut crops)?;
        deadline.check()?;
        let texts = self.recognize_within(&crops, deadline)?;
        let detected = quads.len();
        let lines = quads
            .into_iter()
            .zip(texts)
            .filter(|(_, (_, conf))| *conf >= self.options.min_line_confidence)
            .map(|(q, (text, confidence))| TextLine { text, confidence, quad: q.map(|[x, y]| [x / scale[0], y / scale[1]]) })
            .collect();
        Ok(Pass { lines, detected, tall, flipped })
    }

    /// Text-line quadrilaterals in reading order, in the image's coordinates.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Quad>> {
        let (w, h) = (image.width, image.height);
        let shortest = w.min(h) as f32;
        let ratio = if shortest < self.options.det_min_side as f32 { self.options.det_min_side as f32 / shortest } else { 1.0 };
        let (rw, rh) = (multiple_of_32(w as f32 * ratio), multiple_of_32(h as f32 * ratio));
        let resized = image.resize(rw, rh);
        // Only the part of the page with something on it goes through the network: a scanned
        // page is often half blank. The window is aligned to the network's stride and keeps a
        // margin, so the text inside sees the same grid and surroundings as in the whole page.
        let (x0, y0, cw, ch) = self.content_window(&resized);
        let window = if (cw, ch) == (rw, rh) { resized } else { resized.crop(x0, y0, cw, ch).context("content window")? };
        let input = Tensor::from_vec(window.to_planes_bgr(HALF, HALF, cw), (1, 3, ch, cw), &Device::Cpu)?;
        let prob = self.det.run(input)?.remove(0);
        ensure!(prob.dims() == [1, 1, ch, cw], "detector output {:?} for input {ch}x{cw}", prob.dims());
        let prob = prob.flatten_all()?.to_vec1::<f32>()?;
        let mut boxes = db_boxes(&prob, cw, ch, &self.options.db);
        let (sx, sy) = (w as f32 / rw as f32, h as f32 / rh as f32);
        let mut kept = Vec::with_capacity(boxes.len());
        for b in boxes.drain(..) {
            let quad = order_corners(b.quad.map(|[x, y]| {
                [((x + x0 as f32) * sx).round().clamp(0.0, (w - 1) as f32), ((y + y0 as f32) * sy).round().clamp(0.0, (h - 1) as f32)]
            }));
            if distance(quad[0], quad[1]) <= 3.0 || distance(quad[0], quad[3]) <= 3.0 {
                continue;
            }
            kept.push(crate::geometry::Detection { quad, score: b.score });
        }
        reading_order(&mut kept, 10.0);
        Ok(kept.into_iter().map(|d| d.quad).collect())
    }

    /// The window (`x`, `y`, width, height) of a detector input that holds all its content with a
    /// margin, in multiples of 32 (the network's stride) and never smaller than
    /// [`OcrOptions::det_min_side`] on a side the image has; the whole image when it has no
    /// content to bound (a faint page is read whole rather than risk cutting it).
    fn content_window(&self, image: &RgbImage) -> (usize, usize, usize, usize) {
        let whole = (0, 0, image.width, image.height);
        let Some((x0, y0, x1, y1)) = image.content_bounds(self.options.content_threshold) else { return whole };
        let margin = self.options.content_margin;
        let axis = |first: usize, last: usize, len: usize| -> (usize, usize) {
            let start = first.saturating_sub(margin) / 32 * 32;
            let end = (last + 1 + margin).next_multiple_of(32).min(len);
            let size = (end - start).max(self.options.det_min_side.next_multiple_of(32)).min(len);
            (start.min(len - size), size)
        };
        let ((x, cw), (y, ch)) = (axis(x0, x1, image.width), axis(y0, y1, image.height));
        // A window of nearly the whole image is not worth the copy.
        if (cw * ch) as f32 > 0.9 * (image.width * image.height) as f32 {
            return whole;
        }
        (x, y, cw, ch)
    }

    /// Turn lines the direction classifier finds upside down; returns how many it turned.
    fn orient(&self, crops: &mut [RgbImage]) -> Result<usize> {
        let (height, width) = (self.options.rec_height, self.options.cls_width);
        // Batches side by side, as in recognition.
        let turned: Vec<usize> = crops
            .par_chunks_mut(self.options.rec_batch.max(1))
            .map(|chunk| -> Result<usize> {
                let mut batch = Vec::with_capacity(chunk.len() * 3 * height * width);
                for crop in chunk.iter() {
                    batch.extend(fit_height(crop, height, width).to_planes_bgr(HALF, HALF, width));
                }
                let out = self.cls.run(Tensor::from_vec(batch, (chunk.len(), 3, height, width), &Device::Cpu)?)?.remove(0);
                let mut turned = 0;
                for (crop, p) in chunk.iter_mut().zip(out.to_vec2::<f32>()?) {
                    if p.len() == 2 && p[1] > p[0] && p[1] > self.options.cls_thresh {
                        *crop = crop.rotate180();
                        turned += 1;
                    }
                }
                Ok(turned)
            })
            .collect::<Result<_>>()?;
        Ok(turned.iter().sum())
    }

    /// Recognise upright line crops; returns (text, confidence) per crop, in input order. Unsure
    /// pieces that were padded are read a second time at another padding (see
    /// [`OcrOptions::reread_below`]).
    pub fn recognize(&self, crops: &[RgbImage]) -> Result<Vec<(String, f32)>> {
        self.recognize_within(crops, Deadline(None))
    }

    fn recognize_within(&self, crops: &[RgbImage], deadline: Deadline) -> Result<Vec<(String, f32)>> {
        let all: Vec<usize> = (0..crops.len()).collect();
        let mut results = self.recognize_padded(crops, &all, self.options.rec_min_width, deadline)?;
        let height = self.options.rec_height as f32;
        let unsure: Vec<usize> = all
            .into_iter()
            .filter(|&i| results[i].1 < self.options.reread_below)
            .filter(|&i| height * ratio(&crops[i]) < self.options.reread_min_width as f32)
            .collect();
        if unsure.is_empty() || self.options.reread_min_width == self.options.rec_min_width {
            return Ok(results);
        }
        let mut again = self.recognize_padded(crops, &unsure, self.options.reread_min_width, deadline)?;
        for i in unsure {
            results[i] = two_readings(std::mem::take(&mut results[i]), std::mem::take(&mut again[i]));
        }
        Ok(results)
    }

    /// Recognise the crops at `indices`, each batch padded to at least `min_width`; the result has
    /// one entry per crop, empty for those not asked for.
    fn recognize_padded(&self, crops: &[RgbImage], indices: &[usize], min_width: usize, deadline: Deadline) -> Result<Vec<(String, f32)>> {
        // Lines of similar width share a batch, so little of each batch is padding.
        let mut order = indices.to_vec();
        order.sort_by(|a, b| ratio(&crops[*a]).total_cmp(&ratio(&crops[*b])));
        let height = self.options.rec_height as f32;
        let widths: Vec<f32> = order.iter().map(|&i| (height * ratio(&crops[i])).max(min_width as f32)).collect();
        let batches = batch_bounds(&widths, self.options.rec_batch, self.options.rec_batch_spread);
        // Batches run side by side: within one, many operators on small tensors use one core.
        let texts: Vec<Vec<(String, f32)>> = batches
            .par_iter()
            .map(|range| deadline.check().and_then(|()| self.recognize_batch(crops, &order[range.clone()], min_width)))
            .collect::<Result<_>>()?;
        let mut results = vec![(String::new(), 0.0f32); crops.len()];
        for (range, texts) in batches.into_iter().zip(texts) {
            for (&i, text) in order[range].iter().zip(texts) {
                results[i] = text;
            }
        }
        Ok(results)
    }

    /// Recognise the crops at `chunk` as one batch padded to at least `min_width`.
    fn recognize_batch(&self, crops: &[RgbImage], chunk: &[usize], min_width: usize) -> Result<Vec<(String, f32)>> {
        let height = self.options.rec_height;
        let max_ratio = chunk.iter().map(|i| ratio(&crops[*i])).fold(min_width as f32 / height as f32, f32::max);
        let width = (height as f32 * max_ratio) as usize;
        let mut batch = Vec::with_capacity(chunk.len() * 3 * height * width);
        for &i in chunk {
            batch.extend(fit_height(&crops[i], height, width).to_planes_bgr(HALF, HALF, width));
        }
        let probs = self.rec.run(Tensor::from_vec(batch, (chunk.len(), 3, height, width), &Device::Cpu)?)?.remove(0);
        let (n, steps, classes) = probs.dims3()?;
        ensure!(
            n == chunk.len() && classes == self.alphabet.len(),
            "recogniser output {:?}, dictionary of {}",
            probs.dims(),
            self.alphabet.len()
        );
        let best = probs.argmax(2)?.to_vec2::<u32>()?;
        let all = probs.flatten_all()?.to_vec1::<f32>()?;
        Ok((0..chunk.len())
            .map(|k| {
                // Each frame's probability of its character, with its equivalent forms counted in.
                let best_p: Vec<f32> = (0..steps)
                    .map(|t| {
                        let frame = &all[(k * steps + t) * classes..][..classes];
                        let index = best[k][t] as usize;
                        frame[index] + self.same_as[index].iter().map(|j| frame[*j as usize]).sum::<f32>()
                    })
                    .collect();
                ctc_decode(&best[k][..steps], &best_p, &self.alphabet)
            })
            .collect())
    }
}

/// Consecutive runs of `widths` (ascending) that share a batch: at most `most` pieces (at least
/// one), none wider than `spread` times the run's first.
fn batch_bounds(widths: &[f32], most: usize, spread: f32) -> Vec<std::ops::Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < widths.len() {
        let (limit, last) = (widths[start] * spread, widths.len().min(start + most.max(1)));
        let end = (start + 1..last).find(|&j| widths[j] > limit).unwrap_or(last);
        batches.push(start..end);
        start = end;
    }
    batches
}

/// Width over height of a crop.
fn ratio(crop: &RgbImage) -> f32 {
    crop.width as f32 / crop.height.max(1) as f32
}

/// One piece read twice at different paddings. The same text keeps the surer confidence: the
/// network read it either way, and the less sure reading only hesitated. Different texts keep the
/// surer text, but with the confidence of the less sure reading, so a field read from it goes to a
/// person when either reading doubted.
fn two_readings(first: (String, f32), second: (String, f32)) -> (String, f32) {
    let lower = first.1.min(second.1);
    let higher = first.1.max(second.1);
    if first.0 == second.0 {
        (first.0, higher)
    } else if second.1 > first.1 {
        (second.0, lower)
    } else {
        (first.0, lower)
    }
}

/// Greedy CTC decoding: drop repeats and blanks (index 0). A character is usually emitted over a
/// run of frames, and a frame at the edge of the run often hesitates between the character and the
/// blank, which yields the same text either way; so a character's confidence is the highest frame
/// probability of its run (under CTC's independent frames, the probability that the character is
/// emitted at all is at least that). The reference pipeline takes the run's first frame instead,
/// which reads a clean "286" as 0.90. The line's confidence is the mean over its characters, once
/// spaces at either end are dropped.
pub fn ctc_decode(best: &[u32], best_p: &[f32], alphabet: &[String]) -> (String, f32) {
    let mut characters: Vec<(&str, f32)> = Vec::new();
    let mut previous = None;
    for (&index, &p) in best.iter().zip(best_p) {
        if index != 0 {
            if previous == Some(index) {
                if let Some(last) = characters.last_mut() {
                    last.1 = last.1.max(p);
                }
            } else if let Some(ch) = alphabet.get(index as usize) {
                characters.push((ch, p));
            }
        }
        previous = Some(index);
    }
    // Spaces at either end say nothing about the text; their doubt is not the text's.
    let blank = |c: &(&str, f32)| c.0.trim().is_empty();
    let start = characters.iter().position(|c| !blank(c)).unwrap_or(characters.len());
    let end = characters.iter().rposition(|c| !blank(c)).map_or(start, |e| e + 1);
    let kept = &characters[start..end];
    let text: String = kept.iter().map(|c| c.0).collect();
    let confidences: Vec<f32> = kept.iter().map(|c| c.1).collect();
    let confidence = if confidences.is_empty() { 0.0 } else { confidences.iter().sum::<f32>() / confidences.len() as f32 };
    (text, confidence)
}

/// Full-width forms (U+FF01–FF5E) fold to ASCII; ideographic space to space.
fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect()
}

/// For every alphabet index, the other indices whose character folds to the same text.
fn equivalents(alphabet: &[String]) -> Vec<Vec<u32>> {
    let mut groups: std::collections::HashMap<String, Vec<u32>> = std::collections::HashMap::new();
    for (i, ch) in alphabet.iter().enumerate().skip(1) {
        groups.entry(fold(ch)).or_default().push(i as u32);
    }
    let mut out = vec![Vec::new(); alphabet.len()];
    for members in groups.values().filter(|m| m.len() > 1) {
        for &i in members {
            out[i as usize] = members.iter().copied().filter(|j| *j != i).collect();
        }
    }
    out
}

/// A side scaled for the networks: truncated, then rounded to a multiple of 32 (at least 32), as the
/// reference pipeline does.
fn multiple_of_32(v: f32) -> usize {
    ((((v as usize) as f32 / 32.0).round() as usize) * 32).max(32)
}

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Output size of the crop for a quad: the longer of each pair of opposite sides.
fn crop_size(q: &Quad) -> Option<(usize, usize)> {
    let w = distance(q[0], q[1]).max(distance(q[2], q[3])) as usize;
    let h = distance(q[0], q[3]).max(distance(q[1], q[2])) as usize;
    (w > 0 && h > 0).then_some((w, h))
}

/// Crop a text line upright; lines much taller than wide are vertical text, turned a quarter.
fn crop_line(image: &RgbImage, q: &Quad) -> Option<RgbImage> {
    let (w, h) = crop_size(q)?;
    let crop = image.warp_quad(q, w, h)?;
    Some(if h as f32 / w as f32 >= 1.5 { crop.rotate90_ccw() } else { crop })
}

/// Scale to `height` keeping the aspect ratio, at most `max_width` wide.
fn fit_height(crop: &RgbImage, height: usize, max_width: usize) -> RgbImage {
    let width = ((height as f32 * ratio(crop)).ceil() as usize).clamp(1, max_width);
    crop.resize(width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each turn, made by the image's own rotations, is undone by `to_given`: a marked pixel's
    /// centre in the turned image maps back to its centre in the image as given.
    #[test]
    fn a_point_on_the_turned_page_maps_back_to_where_it_stands_on_the_image_as_given() {
        let (w, h, at) = (7usize, 4usize, (5usize, 1usize));
        let mut data = vec![0u8; w * h * 3];
        data[(at.1 * w + at.0) * 3] = 255;
        let given = RgbImage::new(w, h, data).unwrap();
        for turn in
            [Turn::default(), Turn { quarter: true, half: false }, Turn { quarter: false, half: true }, Turn { quarter: true, half: true }]
        {
            let mut turned = given.clone();
            if turn.quarter {
                turned = turned.rotate90_cw();
            }
            if turn.half {
                turned = turned.rotate180();
            }
            let marked = turned.data.chunks_exact(3).position(|px| px[0] == 255).unwrap();
            let (x, y) = (marked % turned.width, marked / turned.width);
            let back = turn.to_given([x as f32 + 0.5, y as f32 + 0.5], w, h);
            assert_eq!(back, [at.0 as f32 + 0.5, at.1 as f32 + 0.5], "{turn:?}");
        }
    }

    #[test]
    fn ctc_drops_blanks_and_repeats_but_keeps_a_letter_doubled_across_a_blank() {
        let alphabet: Vec<String> = ["", "a", "b", "l"].iter().map(|s| s.to_string()).collect();
        let best = [1, 1, 0, 3, 3, 0, 3, 2, 0];
        let p = [0.9, 0.8, 1.0, 0.7, 0.6, 1.0, 0.5, 0.9, 1.0];
        let (text, conf) = ctc_decode(&best, &p, &alphabet);
        assert_eq!(text, "allb");
        // Each character: the best frame of its run (a: 0.9, l: 0.7, l: 0.5, b: 0.9).
        assert!((conf - (0.9 + 0.7 + 0.5 + 0.9) / 4.0).abs() < 1e-6);
        assert_eq!(ctc_decode(&[0, 0], &[1.0, 1.0], &alphabet), (String::new(), 0.0));
    }

    #[test]
    fn spaces_at_the_ends_of_a_piece_are_dropped_with_their_doubt() {
        let alphabet: Vec<String> = ["", "2", ".", "4", " "].iter().map(|s| s.to_string()).collect();
        let (text, conf) = ctc_decode(&[4, 0, 1, 2, 3, 4, 0, 3, 0, 4], &[0.3, 1.0, 1.0, 0.9, 1.0, 0.6, 1.0, 0.8, 1.0, 0.4], &alphabet);
        assert_eq!(text, "2.4 4");
        assert!((conf - (1.0 + 0.9 + 1.0 + 0.6 + 0.8) / 5.0).abs() < 1e-6, "{conf}");
        assert_eq!(ctc_decode(&[4, 0, 4], &[0.9, 1.0, 0.9], &alphabet), (String::new(), 0.0));
    }

    #[test]
    fn a_character_hesitating_with_the_blank_on_one_frame_of_its_run_is_still_sure() {
        // "286" as the recogniser emitted it on a noisy scan: the 6 spans two frames, the first
        // 0.70 against the blank, the second 1.0.
        let alphabet: Vec<String> = ["", "2", "6", "8"].iter().map(|s| s.to_string()).collect();
        let (text, conf) = ctc_decode(&[1, 0, 3, 0, 2, 2, 0], &[1.0, 1.0, 1.0, 1.0, 0.70, 1.0, 1.0], &alphabet);
        assert_eq!(text, "286");
        assert!((conf - 1.0).abs() < 1e-6, "{conf}");
        // A character seen on a single doubtful frame stays doubtful.
        let (_, conf) = ctc_decode(&[3], &[0.69], &alphabet);
        assert!((conf - 0.69).abs() < 1e-6);
    }

    #[test]
    fn full_width_and_ascii_forms_of_a_character_are_equivalent_but_letters_of_different_case_are_not() {
        let alphabet: Vec<String> = ["", "(", "（", "W", "Ｗ", "p", "P", "中"].iter().map(|s| s.to_string()).collect();
        let same = equivalents(&alphabet);
        assert_eq!(same[1], vec![2]);
        assert_eq!(same[4], vec![3]);
        assert!(same[5].is_empty() && same[6].is_empty() && same[7].is_empty());
    }

    #[test]
    fn two_readings_of_the_same_text_keep_the_surer_and_two_different_texts_keep_the_doubt() {
        let read = |t: &str, c: f32| (t.to_string(), c);
        assert_eq!(two_readings(read("2.46", 0.87), read("2.46", 0.96)), read("2.46", 0.96));
        assert_eq!(two_readings(read("2.46", 0.96), read("2.46", 0.87)), read("2.46", 0.96));
        // The padding changed what was read: the surer text, at the lower confidence.
        assert_eq!(two_readings(read("246", 0.80), read("2.46", 0.93)), read("2.46", 0.80));
        assert_eq!(two_readings(read("2.46", 0.93), read("246", 0.80)), read("2.46", 0.80));
    }

    #[test]
    fn a_batch_holds_pieces_of_similar_width_and_never_more_than_the_limit() {
        let widths = [160.0, 160.0, 160.0, 170.0, 200.0, 201.0, 489.0, 492.0, 531.0, 624.0, 1077.0];
        assert_eq!(batch_bounds(&widths, 3, 1.25), vec![0..3, 3..6, 6..9, 9..10, 10..11]);
        // A spread wide enough for everything leaves only the count as the limit.
        assert_eq!(batch_bounds(&widths, 6, 10.0), vec![0..6, 6..11]);
        assert_eq!(batch_bounds(&widths, 0, 1.25)[0], 0..1);
        assert!(batch_bounds(&[], 6, 1.25).is_empty());
    }

    #[test]
    fn tall_crops_are_turned_to_read_horizontally() {
        let img = RgbImage::filled(100, 100, [255, 255, 255]);
        let crop = crop_line(&img, &[[10.0, 10.0], [20.0, 10.0], [20.0, 60.0], [10.0, 60.0]]).unwrap();
        assert_eq!((crop.width, crop.height), (50, 10));
    }
}
