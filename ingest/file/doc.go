// Package file is the ingest Source for JSON Lines files and standard input. Lines are read
// with the source's Format (Options.Format, FollowOptions.Format: a log format of
// ingest/format; canonical JSON by default).
//
// # Reading files (Source)
//
// It reads each named file (or "-" for stdin) to its end, one record per line, and submits
// lines in batches; a batch is submitted only when full or at the end of a file, and the
// source moves on only after the Sink made the batch durable. Blank lines are skipped. A line
// longer than MaxLine is not dropped: its first MaxLine bytes go to the Sink, which dead-letters
// it as invalid JSON. A batch whose Submit failed because NATS was unavailable for a while (a
// server of the cluster died, a stream elected a new leader: bus.Unavailable) is submitted
// again with backoff (100 ms doubling to 5 s) until it is durable; any other failure ends Run.
//
// # Following a growing file (Follow)
//
// Follow reads one path like tail -F. At the end of what is written it polls (Poll, 250 ms)
// for growth and rotation; a partial batch is submitted once its first line has waited
// FlushAfter (500 ms). A last line without its newline is never submitted while the file is
// current: it waits for the newline (but it is submitted when the file is rotated away, as
// nobody will complete it). Lines longer than MaxLine are dead-lettered as above. A path that
// does not exist yet is waited for; a path that disappears is not a rotation: the open file is
// read on until a new file appears at the path.
//
// Rotation: when another file (device and inode) appears at the path, the old one is read to
// its end and submitted, then the new one is read from its beginning (logrotate's "create").
// When the open file shrinks or its first bytes change, it was truncated in place
// (copytruncate) and is read again from offset 0; an incomplete last line from before the
// truncation is dropped with a warning, and whatever the writer added between the follower's
// last read and the truncation is lost (inherent to copytruncate). Lines a writer appends to a
// renamed file after the follower has switched to the new one are not read (as with tail -F).
//
// Positions: with StateDir, after every Submit that returned nil the follower records the
// path, the file's device and inode, the offset just past the last submitted line, the line
// number, and a SHA-256 of the file's first min(offset, 1 KiB) bytes, in a small JSON file
// written atomically (temporary file, fsync, rename, fsync of the directory). On start it
// resumes there if the file at the path is the same (device, inode, first bytes, at least
// that long). If not, it looks beside the path for the old file (path.* and path-*, the names
// logrotate uses, matched by device, inode and first bytes): if found, it reads the rest of it
// first and then the new file from its beginning; if not, it warns that lines written to the
// old file after the saved position are not ingested and reads the file at the path from its
// beginning. A file truncated or replaced in place while stopped is read from its beginning.
//
// Delivery: at-least-once. A crash between a Submit and the position write re-sends that
// batch after the restart, and lines read but not yet submitted when Run stops are read again;
// event ids make both harmless (JetStream drops ids it holds within its duplicate window, and
// dead letters are keyed by source, location and bytes). A failing Submit is retried with
// backoff (Poll doubling to 30 s) without reading further, so memory stays at one batch.
//
// Known limits: dead letters are located as "name:line" within the current file, so an
// identical bad line at the same line number of a later file (after a rotation) within the
// dead-letter stream's duplicate window is taken as the same dead letter. Compressed rotated
// files (path.1.gz) are not read. Polling, not inotify: latency is up to Poll plus FlushAfter.
package file
