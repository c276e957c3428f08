//! Composition root (placeholder until storage lands).
pub fn serve(_config: crate::config::ServeConfig) -> anyhow::Result<()> {
    anyhow::bail!("serve is not built yet")
}
