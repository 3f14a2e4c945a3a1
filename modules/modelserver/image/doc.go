// Package image builds the model server's OCI image on the controller
// (gpuctl's binary, its libraries when dynamically linked, the model, on an
// optional base archive), writes it as a docker archive, and reads the image
// lists of docker and OCI archives. It does no I/O on hosts: the containerd
// package imports what it builds.
package image
