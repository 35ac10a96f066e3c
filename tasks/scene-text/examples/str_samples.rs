//! Write a contact sheet of word images (as the models see them) with their labels, to check
//! a corpus by eye: `cargo run --release -p scene-text --example str_samples -- CACHE_DIR OUT.png [N]`.
//! Uses the default render config; the corpus is read from CACHE_DIR (or rendered into it).

use image::{GrayImage, Luma};
use scene_text::normalize::{to_grey, HEIGHT};
use scene_text::{generate_corpus, RenderConfig};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(cache), Some(out)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: str_samples CACHE_DIR OUT.png [N]");
    };
    let n: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(24);
    let splits = generate_corpus(&RenderConfig::default(), std::path::Path::new(cache))?;
    let shown = &splits.train[..n.min(splits.train.len())];
    let width = 128u32;
    let mut sheet = GrayImage::from_pixel(width, (shown.len() * (HEIGHT + 2)) as u32, Luma([255]));
    for (i, im) in shown.iter().enumerate() {
        let g = to_grey(&im.pixels, im.width);
        image::imageops::replace(&mut sheet, &g, 0, (i * (HEIGHT + 2)) as i64);
        println!("{i:3} {:4}px {}", im.width, im.text);
    }
    sheet.save(out)?;
    Ok(())
}
