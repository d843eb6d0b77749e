//! Tables: a metric's rows as named, typed columns, across the plugin boundary.

use crate::PluginError;
use abi_stable::{
    std_types::{RString, RVec},
    StableAbi,
};

/// A named table of typed columns, all with the same number of rows: what a metric reports row
/// by row (one row per object, per structure, …).
///
/// A metric returns its scalars from [`crate::Metric::finish`] and its tables from
/// [`crate::Metric::tables`], which the host calls after `finish`. Build a table column by
/// column; the type of each column is the type of its values (`f64`, `i64`, `u64`, `bool`,
/// `String` or `&str`), and every column must have as many rows as the first:
///
/// ```
/// use silico_plugin_api::Table;
///
/// let table = Table::builder("objects")
///     .column("set", ["real", "synthetic"])
///     .column("voxels", [12u64, 9])
///     .column("radius", [0.25, f64::NAN]) // NaN: could not be computed
///     .column("inside", [true, false])
///     .build()?;
/// assert_eq!(table.rows(), 2);
/// assert_eq!(table.u64s("voxels")?, &[12, 9]);
/// assert_eq!(table.strs("set")?, ["real", "synthetic"]);
/// # Ok::<(), silico_plugin_api::PluginError>(())
/// ```
///
/// Readers take a column by name and type ([`Table::f64s`], [`Table::i64s`], [`Table::u64s`],
/// [`Table::bools`], [`Table::strs`]); asking for a missing column or the wrong type is an error
/// that names the table and the column. NaN stays NaN across the boundary.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Table {
    name: RString,
    rows: u64,
    columns: RVec<NamedColumn>,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
struct NamedColumn {
    name: RString,
    values: ColumnValues,
}

/// The values of one column, by type. Public only to [`ColumnValue`]'s sealed conversion: the
/// crate does not export it.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum ColumnValues {
    F64(RVec<f64>),
    I64(RVec<i64>),
    U64(RVec<u64>),
    Bool(RVec<bool>),
    Str(RVec<RString>),
}

impl ColumnValues {
    fn len(&self) -> usize {
        match self {
            ColumnValues::F64(v) => v.len(),
            ColumnValues::I64(v) => v.len(),
            ColumnValues::U64(v) => v.len(),
            ColumnValues::Bool(v) => v.len(),
            ColumnValues::Str(v) => v.len(),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            ColumnValues::F64(_) => "f64",
            ColumnValues::I64(_) => "i64",
            ColumnValues::U64(_) => "u64",
            ColumnValues::Bool(_) => "bool",
            ColumnValues::Str(_) => "string",
        }
    }
}

mod sealed {
    pub trait Sealed: Sized {
        fn column(values: impl Iterator<Item = Self>) -> super::ColumnValues;
    }
}

/// A type a column can hold: `f64`, `i64`, `u64`, `bool`, `String` or `&str`.
pub trait ColumnValue: sealed::Sealed {}

macro_rules! column_value {
    ($($t:ty => $variant:ident $(via $convert:expr)?),* $(,)?) => {$(
        impl sealed::Sealed for $t {
            fn column(values: impl Iterator<Item = Self>) -> ColumnValues {
                ColumnValues::$variant(values$(.map($convert))?.collect())
            }
        }
        impl ColumnValue for $t {}
    )*};
}

column_value! {
    f64 => F64,
    i64 => I64,
    u64 => U64,
    bool => Bool,
    String => Str via RString::from,
    &str => Str via RString::from,
}

impl Table {
    /// Starts a table called `name`; add columns with [`TableBuilder::column`].
    pub fn builder(name: &str) -> TableBuilder {
        TableBuilder {
            name: name.to_string(),
            columns: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn rows(&self) -> usize {
        self.rows as usize
    }

    /// The column names, in the order they were added.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }

    fn values(&self, name: &str) -> Result<&ColumnValues, PluginError> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.values)
            .ok_or_else(|| {
                PluginError::new(format!(
                    "table `{}` has no column `{name}` (it has: {})",
                    self.name,
                    self.column_names().collect::<Vec<_>>().join(", ")
                ))
            })
    }

    fn wrong_type(&self, name: &str, values: &ColumnValues, wanted: &str) -> PluginError {
        PluginError::new(format!(
            "table `{}`: column `{name}` holds {} values, not {wanted}",
            self.name,
            values.type_name()
        ))
    }

    pub fn f64s(&self, name: &str) -> Result<&[f64], PluginError> {
        match self.values(name)? {
            ColumnValues::F64(v) => Ok(v),
            other => Err(self.wrong_type(name, other, "f64")),
        }
    }

    pub fn i64s(&self, name: &str) -> Result<&[i64], PluginError> {
        match self.values(name)? {
            ColumnValues::I64(v) => Ok(v),
            other => Err(self.wrong_type(name, other, "i64")),
        }
    }

    pub fn u64s(&self, name: &str) -> Result<&[u64], PluginError> {
        match self.values(name)? {
            ColumnValues::U64(v) => Ok(v),
            other => Err(self.wrong_type(name, other, "u64")),
        }
    }

    pub fn bools(&self, name: &str) -> Result<&[bool], PluginError> {
        match self.values(name)? {
            ColumnValues::Bool(v) => Ok(v),
            other => Err(self.wrong_type(name, other, "bool")),
        }
    }

    pub fn strs(&self, name: &str) -> Result<Vec<&str>, PluginError> {
        match self.values(name)? {
            ColumnValues::Str(v) => Ok(v.iter().map(RString::as_str).collect()),
            other => Err(self.wrong_type(name, other, "string")),
        }
    }
}

/// Collects a [`Table`]'s columns; [`TableBuilder::build`] checks them.
#[derive(Debug)]
pub struct TableBuilder {
    name: String,
    columns: Vec<NamedColumn>,
}

impl TableBuilder {
    /// Adds the column `name`, typed by its values.
    pub fn column<T: ColumnValue>(
        mut self,
        name: &str,
        values: impl IntoIterator<Item = T>,
    ) -> Self {
        self.columns.push(NamedColumn {
            name: name.into(),
            values: T::column(values.into_iter()),
        });
        self
    }

    /// The table; an error naming the column if one is unnamed, given twice, or has another
    /// number of rows than the first.
    pub fn build(self) -> Result<Table, PluginError> {
        let fail = |what: String| PluginError::new(format!("table `{}`: {what}", self.name));
        let rows = self.columns.first().map_or(0, |c| c.values.len());
        for (i, column) in self.columns.iter().enumerate() {
            if column.name.is_empty() {
                return Err(fail(format!("column {} has no name", i + 1)));
            }
            if self.columns[..i].iter().any(|c| c.name == column.name) {
                return Err(fail(format!("column `{}` is given twice", column.name)));
            }
            if column.values.len() != rows {
                return Err(fail(format!(
                    "column `{}` has {} rows but `{}` has {rows}",
                    column.name,
                    column.values.len(),
                    self.columns[0].name
                )));
            }
        }
        Ok(Table {
            name: self.name.into(),
            rows: rows as u64,
            columns: self.columns.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_keep_their_type_and_nan() {
        let table = Table::builder("t")
            .column("x", [1.5, f64::NAN])
            .column("n", [-1i64, 2])
            .column("name", vec!["a".to_string(), "b, \"c\"".to_string()])
            .build()
            .unwrap();
        assert_eq!(table.name(), "t");
        assert_eq!(table.rows(), 2);
        assert_eq!(table.column_names().collect::<Vec<_>>(), ["x", "n", "name"]);
        let x = table.f64s("x").unwrap();
        assert_eq!(x[0], 1.5);
        assert!(x[1].is_nan());
        assert_eq!(table.i64s("n").unwrap(), &[-1, 2]);
        assert_eq!(table.strs("name").unwrap(), ["a", "b, \"c\""]);
        assert!(table.has_column("n") && !table.has_column("m"));
    }

    #[test]
    fn reading_a_missing_column_or_the_wrong_type_names_it() {
        let table = Table::builder("objects")
            .column("voxels", [3u64])
            .column("inside", [true])
            .build()
            .unwrap();
        assert_eq!(
            table.f64s("voxels").unwrap_err().message(),
            "table `objects`: column `voxels` holds u64 values, not f64"
        );
        assert_eq!(
            table.bools("radius").unwrap_err().message(),
            "table `objects` has no column `radius` (it has: voxels, inside)"
        );
    }

    #[test]
    fn build_checks_names_and_row_counts() {
        let err = |builder: TableBuilder| builder.build().unwrap_err().message().to_string();
        assert_eq!(
            err(Table::builder("objects")
                .column("set", ["real", "real", "synthetic"])
                .column("radius", [0.5, 0.25])),
            "table `objects`: column `radius` has 2 rows but `set` has 3"
        );
        assert_eq!(
            err(Table::builder("objects")
                .column("x", [0.5])
                .column("x", [0.5])),
            "table `objects`: column `x` is given twice"
        );
        assert_eq!(
            err(Table::builder("objects").column("", [1u64])),
            "table `objects`: column 1 has no name"
        );
        assert_eq!(Table::builder("empty").build().unwrap().rows(), 0);
    }
}
