//! `civitas models`: installation steps the set-up script runs.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Convert dlib's face-recognition network (.dat) to ONNX.
    ConvertDlib {
        /// `dlib_face_recognition_resnet_model_v1.dat`
        input: PathBuf,
        /// Output `.onnx` file.
        output: PathBuf,
    },
    /// Write SCRFD patched to take 640 wide × HEIGHT high (what Civitas does in memory for landscape frames).
    PatchScrfd {
        /// The packaged `scrfd.onnx`.
        input: PathBuf,
        /// Input height: a multiple of 32 in 128..=640.
        #[arg(long)]
        height: usize,
        output: PathBuf,
    },
}

pub fn main(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::ConvertDlib { input, output } => {
            let bytes =
                std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            let onnx = civitas_vision::dlib_convert::convert(&bytes)
                .with_context(|| format!("converting {}", input.display()))?;
            let tmp = output.with_extension("onnx.part");
            std::fs::write(&tmp, &onnx).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &output)
                .with_context(|| format!("writing {}", output.display()))?;
            eprintln!("wrote {} ({} bytes)", output.display(), onnx.len());
            Ok(())
        }
        Cmd::PatchScrfd {
            input,
            height,
            output,
        } => {
            let bytes =
                std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            let patched = civitas_vision::scrfd::patch_height(&bytes, height)?;
            std::fs::write(&output, patched)
                .with_context(|| format!("writing {}", output.display()))?;
            Ok(())
        }
    }
}
