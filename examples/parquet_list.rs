//! Writes a LAION-style parquet URL list for the memory benchmark
//! (`bench/parquet-manifest.sh`): `parquet_list PATH ROWS [ROWS_PER_GROUP]`.

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::fs::File;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, rows, ..] = &args[..] else {
        return Err("usage: parquet_list PATH ROWS [ROWS_PER_GROUP]".into());
    };
    let rows: usize = rows.parse()?;
    let per_group: usize = args.get(3).map_or(Ok(100_000), |s| s.parse())?;
    let schema = parquet::schema::parser::parse_message_type(
        "message list {
            REQUIRED BYTE_ARRAY URL (UTF8);
            OPTIONAL BYTE_ARRAY TEXT (UTF8);
            REQUIRED INT64 id;
            REQUIRED DOUBLE similarity;
        }",
    )?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer =
        SerializedFileWriter::new(File::create(path)?, Arc::new(schema), Arc::new(props))?;
    let mut start = 0;
    while start < rows {
        let group: Vec<usize> = (start..rows.min(start + per_group)).collect();
        start += group.len();
        let text = |f: &dyn Fn(usize) -> String| -> Vec<ByteArray> {
            group
                .iter()
                .map(|&i| ByteArray::from(f(i).into_bytes()))
                .collect()
        };
        let urls = text(&|i| format!("http://host{}.invalid/images/{i:09}.jpg", i % 5000));
        let captions = text(&|i| format!("a photo of item number {i} on a table"));
        let ids: Vec<i64> = group.iter().map(|&i| i as i64).collect();
        let similarity: Vec<f64> = group.iter().map(|&i| (i % 100) as f64 / 100.0).collect();
        let mut rg = writer.next_row_group()?;
        for column in 0..4 {
            let mut col = rg.next_column()?.ok_or("schema has four columns")?;
            match column {
                0 => col
                    .typed::<ByteArrayType>()
                    .write_batch(&urls, None, None)?,
                1 => {
                    let levels = vec![1; captions.len()];
                    col.typed::<ByteArrayType>()
                        .write_batch(&captions, Some(&levels), None)?
                }
                2 => col.typed::<Int64Type>().write_batch(&ids, None, None)?,
                _ => col
                    .typed::<DoubleType>()
                    .write_batch(&similarity, None, None)?,
            };
            col.close()?;
        }
        rg.close()?;
    }
    writer.close()?;
    Ok(())
}
