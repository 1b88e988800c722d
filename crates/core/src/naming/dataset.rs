//! Names inside a dataset output: which data file holds each input row,
//! what that file is called, and the row's sample key in it. Dataset rows
//! are named by their position, never by their input, so the same URL twice
//! (with two captions) makes two samples.

/// Where each input row goes: its data file and its key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    per_file: u64,
    shard: Option<(u64, u64)>,
    /// The data files' extension: `tar` or `parquet`.
    data_ext: &'static str,
}

impl Layout {
    /// `per_file` rows to a data file (at least one), in a `--shard
    /// index/count` run or not, with data files named `*.{data_ext}`.
    pub(crate) fn new(per_file: u64, shard: Option<(u64, u64)>, data_ext: &'static str) -> Layout {
        Layout {
            per_file: per_file.max(1),
            shard,
            data_ext,
        }
    }

    /// How many rows a data file holds (the last one may hold fewer).
    pub(crate) fn per_file(&self) -> u64 {
        self.per_file
    }

    /// The number of the data file that holds the row at `position`.
    pub(crate) fn file_of(&self, position: u64) -> u64 {
        position / self.per_file
    }

    /// The name of data file `file` without extension: `00012`, or
    /// `3of8-00012` in a `--shard 3/8` run, so shard runs sharing a folder
    /// never collide.
    pub(crate) fn stem(&self, file: u64) -> String {
        match self.shard {
            Some((index, count)) => format!("{index}of{count}-{file:05}"),
            None => format!("{file:05}"),
        }
    }

    /// The sample key of the row at `position`: the file's stem and the
    /// row's place in it, as img2dataset's `{shard:05}{index:04}`.
    pub(crate) fn key(&self, position: u64) -> String {
        let digits = (self.per_file - 1).max(1).ilog10() as usize + 1;
        let within = position % self.per_file;
        format!("{}{within:0digits$}", self.stem(self.file_of(position)))
    }

    /// Data file `file`'s name: `00012.tar`.
    pub(crate) fn data_name(&self, file: u64) -> String {
        format!("{}.{}", self.stem(file), self.data_ext)
    }

    /// What records call the sample of the row at `position`, a member of
    /// its data file: `00002.tar:000025.jpg` (`ext` without its dot; empty
    /// while a download's format is not known yet).
    pub(crate) fn member_name(&self, position: u64, ext: &str) -> String {
        let dot = if ext.is_empty() { "" } else { "." };
        format!(
            "{}:{}{dot}{ext}",
            self.data_name(self.file_of(position)),
            self.key(position)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_names_follow_position_and_shard() {
        let plain = Layout::new(100, None, "tar");
        assert_eq!(plain.file_of(250), 2);
        assert_eq!(plain.key(250), "0000250");
        assert_eq!(plain.member_name(250, "jpg"), "00002.tar:0000250.jpg");
        assert_eq!(plain.member_name(0, ""), "00000.tar:0000000");
        let sharded = Layout::new(10, Some((3, 8)), "parquet");
        assert_eq!(sharded.data_name(1), "3of8-00001.parquet");
        assert_eq!(sharded.key(19), "3of8-000019");
        // Zero rows per file would divide by zero: one row each instead.
        assert_eq!(Layout::new(0, None, "tar").file_of(7), 7);
    }
}
