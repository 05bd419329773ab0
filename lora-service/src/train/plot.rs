//! `loss.png`: the training loss by optimiser step and the held-out loss at the end of each
//! epoch, drawn with plotters in DejaVu Sans (embedded: no system fonts needed).

use std::{path::Path, sync::Once};

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use super::Curve;

fn register_font() {
	static ONCE: Once = Once::new();
	ONCE.call_once(|| {
		if plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
			.is_err()
		{
			tracing::warn!("DejaVu Sans could not be read: loss.png has no labels");
		}
	});
}

/// Draws `curve` into a PNG file at `path` (900 × 500).
pub fn loss_png(curve: &Curve, path: &Path) -> Result<()> {
	register_font();
	let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
	let failed = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
	root.fill(&WHITE).map_err(|e| failed(&e))?;
	let points = curve.train.iter().chain(&curve.eval);
	let last_step = points.clone().map(|(s, _)| *s).max().unwrap_or(0).max(1);
	let top = points.map(|(_, l)| *l).filter(|l| l.is_finite()).fold(0f64, f64::max).max(1e-3);
	let mut chart = ChartBuilder::on(&root)
		.caption("LoRA fine-tuning loss", ("sans-serif", 24))
		.margin(16)
		.x_label_area_size(44)
		.y_label_area_size(60)
		.build_cartesian_2d(0f64..last_step as f64, 0f64..top * 1.05)
		.map_err(|e| failed(&e))?;
	chart
		.configure_mesh()
		.x_desc("optimiser step")
		.y_desc("cross-entropy per token")
		.x_label_formatter(&|step| format!("{step:.0}"))
		.label_style(("sans-serif", 14))
		.draw()
		.map_err(|e| failed(&e))?;
	let line = |points: &[(usize, f64)]| -> Vec<(f64, f64)> {
		points.iter().map(|(s, l)| (*s as f64, *l)).collect()
	};
	chart
		.draw_series(LineSeries::new(line(&curve.train), BLUE.stroke_width(2)))
		.map_err(|e| failed(&e))?
		.label("training")
		.legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
	if !curve.eval.is_empty() {
		let eval = line(&curve.eval);
		chart
			.draw_series(LineSeries::new(eval.clone(), RED.stroke_width(2)))
			.map_err(|e| failed(&e))?
			.label("held out")
			.legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
		chart
			.draw_series(eval.into_iter().map(|p| Circle::new(p, 4, RED.filled())))
			.map_err(|e| failed(&e))?;
	}
	chart
		.configure_series_labels()
		.background_style(WHITE.mix(0.8))
		.border_style(BLACK)
		.label_font(("sans-serif", 14))
		.draw()
		.map_err(|e| failed(&e))?;
	root.present().map_err(|e| failed(&e))?;
	Ok(())
}
