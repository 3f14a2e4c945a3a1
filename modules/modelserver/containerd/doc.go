// Package containerd plans and runs image imports into a host's containerd
// store through ctr: what the store already holds is compared by image ID,
// and only missing archives are uploaded and imported. image_import and
// model_server share it.
package containerd
