//! Bulk exports for analysts: a series' records as CSV, NDJSON or Parquet, written a page at
//! a time so that any range streams in bounded memory. Every format has the same flat
//! columns, named and valued as the REST views are (times in CSV and NDJSON as the REST
//! API writes them; in Parquet as UTC timestamps in milliseconds).

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;

use crate::sim::Record;
use crate::views::{BusArrivalView, BusPositionView, PeopleCountView, SensorView};

/// The series an export can read, as the route and the command line name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ExportSeries {
    BusPositions,
    PeopleCount,
    Sensors,
    BusArrivals,
}

impl ExportSeries {
    pub const ALL: [ExportSeries; 4] = [
        ExportSeries::BusPositions,
        ExportSeries::PeopleCount,
        ExportSeries::Sensors,
        ExportSeries::BusArrivals,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ExportSeries::BusPositions => "bus_positions",
            ExportSeries::PeopleCount => "people_count",
            ExportSeries::Sensors => "sensors",
            ExportSeries::BusArrivals => "bus_arrivals",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }

    /// The columns of every row, in order.
    pub fn columns(self) -> &'static [(&'static str, Kind)] {
        use Kind::*;
        match self {
            ExportSeries::BusPositions => &[
                ("bus_id", Text),
                ("line_id", Text),
                ("time", Time),
                ("latitude", Float),
                ("longitude", Float),
                ("speed", Float),
                ("direction", Int),
                ("passenger_count", Int),
                ("next_stop_id", Text),
                ("distance_to_next_stop", Float),
                ("at_stop", Bool),
                ("in_service", Bool),
                ("trip_id", Text),
                ("delay_s", Int),
            ],
            ExportSeries::PeopleCount => &[
                ("stop_id", Text),
                ("time", Time),
                ("count", Int),
                ("line_ids", Text),
                ("waiting", Text),
                ("gave_up", Int),
            ],
            ExportSeries::Sensors => &[
                ("entity_type", Text),
                ("entity_id", Text),
                ("time", Time),
                ("temperature", Float),
                ("humidity", Float),
                ("co2_level", Float),
                ("door_status", Text),
            ],
            ExportSeries::BusArrivals => &[
                ("bus_id", Text),
                ("line_id", Text),
                ("stop_id", Text),
                ("time", Time),
                ("direction", Int),
                ("boarded", Int),
                ("alighted", Int),
                ("passengers_after", Int),
                ("waiting_after", Int),
                ("trip_id", Text),
                ("delay_s", Int),
            ],
        }
    }
}

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Text,
    Bool,
    Time,
}

/// One cell; `Time` keeps both the epoch milliseconds and the REST text.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    Time(i64, String),
    Null,
}

/// A record's cells, in [`ExportSeries::columns`] order, from its REST view.
pub fn cells(record: &Record) -> Vec<Cell> {
    use Cell::*;
    let text = |s: Option<String>| s.map_or(Null, Text);
    let int = |n: Option<i32>| n.map_or(Null, |n| Int(n.into()));
    let time = record.time().0;
    match record {
        Record::Position(p) => {
            let v = BusPositionView::from(p);
            vec![
                Text(v.bus_id),
                Text(v.line_id),
                Time(time, v.time),
                Float(v.latitude),
                Float(v.longitude),
                Float(v.speed),
                Int(v.direction.into()),
                Int(v.passenger_count.into()),
                Text(v.next_stop_id),
                Float(v.distance_to_next_stop),
                Bool(v.at_stop),
                Bool(v.in_service),
                text(v.trip_id),
                int(v.delay_s),
            ]
        }
        Record::People(p) => {
            let v = PeopleCountView::from(p);
            let waiting = crate::sim::LineWaiting::encode_list(&p.waiting);
            vec![
                Text(v.stop_id),
                Time(time, v.time),
                Int(v.count.into()),
                Text(v.line_ids.join(",")),
                Text(waiting),
                Int(v.gave_up.into()),
            ]
        }
        Record::Sensor(s) => {
            let v = SensorView::from(s);
            vec![
                Text(v.entity_type.as_str().into()),
                Text(v.entity_id),
                Time(time, v.time),
                Float(v.temperature),
                Float(v.humidity),
                v.co2_level.map_or(Null, Float),
                text(v.door_status.map(|d| d.as_str().to_string())),
            ]
        }
        Record::Arrival(a) => {
            let v = BusArrivalView::from(a);
            vec![
                Text(v.bus_id),
                Text(v.line_id),
                Text(v.stop_id),
                Time(time, v.time),
                Int(v.direction.into()),
                Int(v.boarded.into()),
                Int(v.alighted.into()),
                Int(v.passengers_after.into()),
                Int(v.waiting_after.into()),
                text(v.trip_id),
                int(v.delay_s),
            ]
        }
    }
}

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Ndjson,
    Parquet,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Csv, Format::Ndjson, Format::Parquet];

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot encode the export: {0}")]
pub struct EncodeError(String);

fn fail(e: impl std::fmt::Display) -> EncodeError {
    EncodeError(e.to_string())
}

/// Turns pages of records into the bytes of a file, a page at a time.
pub enum Encoder {
    Csv {
        columns: &'static [(&'static str, Kind)],
        header: bool,
    },
    Ndjson {
        columns: &'static [(&'static str, Kind)],
    },
    Parquet {
        columns: &'static [(&'static str, Kind)],
        schema: SchemaRef,
        writer: Box<ArrowWriter<Vec<u8>>>,
    },
}

impl Encoder {
    pub fn new(series: ExportSeries, format: Format) -> Result<Self, EncodeError> {
        let columns = series.columns();
        Ok(match format {
            Format::Csv => Encoder::Csv {
                columns,
                header: false,
            },
            Format::Ndjson => Encoder::Ndjson { columns },
            Format::Parquet => {
                let schema = Arc::new(Schema::new(
                    columns
                        .iter()
                        .map(|&(name, kind)| Field::new(name, arrow_type(kind), true))
                        .collect::<Vec<_>>(),
                ));
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    .build();
                let writer =
                    ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props)).map_err(fail)?;
                Encoder::Parquet {
                    columns,
                    schema,
                    writer: Box::new(writer),
                }
            }
        })
    }

    /// The bytes of a page of rows (for Parquet, one row group).
    pub fn page(&mut self, rows: &[Record]) -> Result<Vec<u8>, EncodeError> {
        match self {
            Encoder::Csv { columns, header } => {
                let mut w = csv::Writer::from_writer(Vec::new());
                if !*header {
                    w.write_record(columns.iter().map(|c| c.0)).map_err(fail)?;
                    *header = true;
                }
                let mut scratch = String::new();
                for r in rows {
                    for cell in cells(r) {
                        w.write_field(csv_text(&cell, &mut scratch)).map_err(fail)?;
                    }
                    w.write_record(None::<&[u8]>).map_err(fail)?;
                }
                w.into_inner().map_err(fail)
            }
            Encoder::Ndjson { columns } => {
                let mut out = Vec::new();
                for r in rows {
                    let object = JsonRow(columns, cells(r));
                    serde_json::to_writer(&mut out, &object).map_err(fail)?;
                    out.push(b'\n');
                }
                Ok(out)
            }
            Encoder::Parquet {
                columns,
                schema,
                writer,
            } => {
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let batch = record_batch(columns, schema, rows)?;
                writer.write(&batch).map_err(fail)?;
                writer.flush().map_err(fail)?;
                // The writer counts what it wrote; what it wrote can leave now.
                Ok(std::mem::take(writer.inner_mut()))
            }
        }
    }

    /// The bytes that end the file (Parquet's footer; nothing for the text formats, but a
    /// CSV header when no row came).
    pub fn finish(self) -> Result<Vec<u8>, EncodeError> {
        match self {
            Encoder::Csv { header: false, .. } => {
                let mut enc = self;
                enc.page(&[])
            }
            Encoder::Csv { .. } | Encoder::Ndjson { .. } => Ok(Vec::new()),
            Encoder::Parquet { writer, .. } => writer.into_inner().map_err(fail),
        }
    }
}

fn arrow_type(kind: Kind) -> DataType {
    match kind {
        Kind::Int => DataType::Int64,
        Kind::Float => DataType::Float64,
        Kind::Text => DataType::Utf8,
        Kind::Bool => DataType::Boolean,
        Kind::Time => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    }
}

/// A cell's CSV text; numbers are written into `scratch` (no allocation per cell).
fn csv_text<'a>(cell: &'a Cell, scratch: &'a mut String) -> &'a str {
    use std::fmt::Write;
    scratch.clear();
    match cell {
        Cell::Int(n) => {
            let _ = write!(scratch, "{n}");
            scratch
        }
        Cell::Float(x) => {
            let _ = write!(scratch, "{x}");
            scratch
        }
        Cell::Text(s) | Cell::Time(_, s) => s,
        Cell::Bool(true) => "true",
        Cell::Bool(false) => "false",
        Cell::Null => "",
    }
}

/// A row as a JSON object with its keys in column order.
struct JsonRow<'a>(&'a [(&'static str, Kind)], Vec<Cell>);

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for ((name, _), cell) in self.0.iter().zip(&self.1) {
            match cell {
                Cell::Int(n) => map.serialize_entry(name, n)?,
                Cell::Float(x) => map.serialize_entry(name, x)?,
                Cell::Text(t) | Cell::Time(_, t) => map.serialize_entry(name, t)?,
                Cell::Bool(b) => map.serialize_entry(name, b)?,
                Cell::Null => map.serialize_entry(name, &())?,
            }
        }
        map.end()
    }
}

fn record_batch(
    columns: &[(&'static str, Kind)],
    schema: &SchemaRef,
    rows: &[Record],
) -> Result<RecordBatch, EncodeError> {
    enum Builder {
        Int(Int64Builder),
        Float(Float64Builder),
        Text(StringBuilder),
        Bool(BooleanBuilder),
        Time(TimestampMillisecondBuilder),
    }
    let mut builders: Vec<Builder> = columns
        .iter()
        .map(|&(_, kind)| match kind {
            Kind::Int => Builder::Int(Int64Builder::with_capacity(rows.len())),
            Kind::Float => Builder::Float(Float64Builder::with_capacity(rows.len())),
            Kind::Text => Builder::Text(StringBuilder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::with_capacity(rows.len())),
            Kind::Time => Builder::Time(
                TimestampMillisecondBuilder::with_capacity(rows.len()).with_timezone("UTC"),
            ),
        })
        .collect();
    for r in rows {
        for (b, cell) in builders.iter_mut().zip(cells(r)) {
            match (b, cell) {
                (Builder::Int(b), Cell::Int(n)) => b.append_value(n),
                (Builder::Float(b), Cell::Float(x)) => b.append_value(x),
                (Builder::Text(b), Cell::Text(s)) => b.append_value(s),
                (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
                (Builder::Time(b), Cell::Time(ms, _)) => b.append_value(ms),
                (Builder::Int(b), _) => b.append_null(),
                (Builder::Float(b), _) => b.append_null(),
                (Builder::Text(b), _) => b.append_null(),
                (Builder::Bool(b), _) => b.append_null(),
                (Builder::Time(b), _) => b.append_null(),
            }
        }
    }
    let arrays: Vec<ArrayRef> = builders
        .into_iter()
        .map(|b| -> ArrayRef {
            match b {
                Builder::Int(mut b) => Arc::new(b.finish()),
                Builder::Float(mut b) => Arc::new(b.finish()),
                Builder::Text(mut b) => Arc::new(b.finish()),
                Builder::Bool(mut b) => Arc::new(b.finish()),
                Builder::Time(mut b) => Arc::new(b.finish()),
            }
        })
        .collect();
    RecordBatch::try_new(schema.clone(), arrays).map_err(fail)
}
