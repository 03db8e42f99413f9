// Package file is the ingest Source for JSON Lines files and standard input.
//
// It reads each named file (or "-" for stdin) to its end, one record per line, and submits
// lines in batches; a batch is submitted only when full or at the end of a file, and the
// source moves on only after the Sink made the batch durable. Blank lines are skipped. A line
// longer than MaxLine is not dropped: its first MaxLine bytes go to the Sink, which dead-letters
// it as invalid JSON.
//
// Not yet: following a growing file across rotation and remembering positions across restarts.
package file
