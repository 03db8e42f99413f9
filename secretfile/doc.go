// Package secretfile reads files that hold secrets — bearer tokens, passwords, webhook
// secrets, private keys — and refuses those that other users could read.
//
// A secret file must be a regular file (or a symbolic link to one) whose permissions give
// nothing to its group or to others: mode 0600 or 0400. A file with any group or other bit
// set (0644, 0640, 0660, ...) is refused with a *PermissionError that names the file and the
// fix (chmod 600 FILE), before its contents are read. The check is made on the opened file,
// so the file checked is the file read.
//
// It deliberately does not check the owner (a root-owned 0600 file read by root is fine), the
// directory the file is in, or the contents. Errors never contain the contents.
//
// Kubernetes: secret volumes are mounted 0644 unless the volume sets defaultMode, and their
// files are owned by root, so defaultMode 0400 leaves them unreadable to a non-root process,
// while fsGroup (the way to give it access) makes them group-readable (0440), which is refused.
// deploy/k8s copies them in an init container, mode 0400 and owned by breachd's user, into an
// in-memory volume (deploy/README.md, "Secret files").
package secretfile
