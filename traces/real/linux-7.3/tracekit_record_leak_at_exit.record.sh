#!/bin/sh
# Written by tracekit record --emit-script: record DRM/GEM buffer-object traces here.
# Usage: sh THIS_SCRIPT [COMMAND ARGS...]   (as root; OUT=file to change the output)
# Without a command it records until Ctrl-C. Then: tracekit check "$OUT" on any machine.
set -u
T=${TRACEFS:-/sys/kernel/tracing}
I="$T/instances/tracekit-$$"
OUT=${OUT:-/tmp/gem.txt}
[ -d "$T/events" ] || mount -t tracefs nodev "$T" 2>/dev/null
[ -d "$T/events" ] || { echo "no tracefs at $T" >&2; exit 3; }
w() { # write a value to a tracefs file, say so when the kernel refuses it
  printf "%s\n" "$2" > "$1" 2>/dev/null || { echo "refused: $2 > $1" >&2; return 1; }
}
k() { # append to kprobe_events: a plain write would delete every other user's probes
  printf "%s\n" "$1" >> "$T/kprobe_events" 2>/dev/null
}
cleanup() {
  w "$I/tracing_on" 0
  [ -n "${CAT:-}" ] && { kill "$CAT" 2>/dev/null; wait "$CAT" 2>/dev/null; }
  rmdir "$I" 2>/dev/null
  k -:tracekit/drm_gem_object_init
  k -:tracekit/drm_gem_object_init_ret
  k -:tracekit/drm_gem_private_object_init
  k -:tracekit/drm_gem_object_release
  k -:tracekit/drm_gem_object_free
  k -:tracekit/drm_gem_handle_create_tail
  k -:tracekit/drm_gem_handle_create_tail_ret
  k -:tracekit/drm_gem_handle_delete
  k -:tracekit/drm_gem_handle_delete_ret
  k -:tracekit/drm_gem_object_release_handle
  k -:tracekit/drm_gem_object_handle_put_unlocked
  k -:tracekit/drm_gem_object_lookup
  k -:tracekit/drm_gem_object_lookup_ret
  k -:tracekit/drm_gem_release
  k -:tracekit/drm_gem_close_ioctl
  k -:tracekit/drm_gem_flink_ioctl
  k -:tracekit/drm_gem_open_ioctl
  k -:tracekit/drm_mode_create_dumb_ioctl
  k -:tracekit/drm_mode_create_dumb_ioctl_ret
  k -:tracekit/drm_mode_destroy_dumb_ioctl
  k -:tracekit/drm_mode_create_dumb
  k -:tracekit/drm_mode_create_dumb_ret
  k -:tracekit/drm_mode_destroy_dumb
  k -:tracekit/drm_gem_dumb_map_offset
  k -:tracekit/drm_gem_mmap
  k -:tracekit/drm_gem_mmap_obj
  k -:tracekit/drm_gem_vm_open
  k -:tracekit/drm_gem_vm_close
  k -:tracekit/drm_gem_vmap
  k -:tracekit/drm_gem_vmap_ret
  k -:tracekit/drm_gem_vunmap
  k -:tracekit/drm_gem_pin
  k -:tracekit/drm_gem_pin_ret
  k -:tracekit/drm_gem_unpin
  k -:tracekit/drm_gem_prime_handle_to_fd
  k -:tracekit/drm_gem_prime_handle_to_fd_ret
  k -:tracekit/drm_gem_prime_fd_to_handle
  k -:tracekit/drm_gem_prime_fd_to_handle_ret
  k -:tracekit/drm_gem_prime_export
  k -:tracekit/drm_gem_prime_export_ret
  k -:tracekit/drm_gem_dmabuf_export
  k -:tracekit/drm_gem_prime_import_dev
  k -:tracekit/drm_gem_prime_import_dev_ret
  k -:tracekit/drm_gem_shmem_prime_import_no_map
  k -:tracekit/drm_gem_shmem_prime_import_no_map_ret
  k -:tracekit/drm_gem_dmabuf_release
  k -:tracekit/drm_gem_map_attach
  k -:tracekit/drm_gem_map_detach
  k -:tracekit/drm_gem_map_dma_buf
  k -:tracekit/drm_gem_unmap_dma_buf
  k -:tracekit/drm_gem_dmabuf_vmap
  k -:tracekit/drm_gem_dmabuf_vunmap
  k -:tracekit/drm_gem_dmabuf_mmap
  k -:tracekit/drm_prime_add_buf_handle
  k -:tracekit/drm_prime_remove_buf_handle
  k -:tracekit/drm_prime_gem_destroy
  k -:tracekit/__drm_gem_shmem_create
  k -:tracekit/__drm_gem_shmem_create_ret
  k -:tracekit/drm_gem_shmem_free
  k -:tracekit/drm_gem_shmem_dumb_create
  k -:tracekit/drm_gem_shmem_get_pages
  k -:tracekit/drm_gem_shmem_get_pages_locked
  k -:tracekit/drm_gem_shmem_put_pages
  k -:tracekit/drm_gem_shmem_put_pages_locked
  k -:tracekit/drm_gem_shmem_pin
  k -:tracekit/drm_gem_shmem_unpin
  k -:tracekit/drm_gem_shmem_vmap
  k -:tracekit/drm_gem_shmem_vmap_ret
  k -:tracekit/drm_gem_shmem_vunmap
  k -:tracekit/drm_gem_shmem_pin_locked
  k -:tracekit/drm_gem_shmem_unpin_locked
  k -:tracekit/drm_gem_shmem_vmap_locked
  k -:tracekit/drm_gem_shmem_vmap_locked_ret
  k -:tracekit/drm_gem_shmem_vunmap_locked
  k -:tracekit/drm_gem_shmem_mmap
  k -:tracekit/drm_gem_shmem_vm_open
  k -:tracekit/drm_gem_shmem_vm_close
  k -:tracekit/drm_gem_shmem_get_sg_table
  k -:tracekit/drm_gem_shmem_get_pages_sgt
  k -:tracekit/drm_gem_shmem_prime_import_sg_table
  k -:tracekit/drm_gem_fb_vmap
  k -:tracekit/drm_gem_fb_vmap_ret
  k -:tracekit/drm_gem_fb_vunmap
  k -:tracekit/drm_gem_fb_destroy
  k -:tracekit/vgem_gem_create_object
  k -:tracekit/vgem_fence_attach_ioctl
  k -:tracekit/vgem_fence_attach_ioctl_ret
  k -:tracekit/vgem_fence_signal_ioctl
  k -:tracekit/vgem_fence_signal_ioctl_ret
  k -:tracekit/vgem_fence_timeout
  k -:tracekit/vgem_fence_release
  k -:tracekit/vgem_postclose
  k -:tracekit/dma_buf_export
  k -:tracekit/dma_buf_export_ret
  k -:tracekit/dma_buf_fd
  k -:tracekit/dma_buf_fd_ret
  k -:tracekit/dma_buf_get
  k -:tracekit/dma_buf_get_ret
  k -:tracekit/dma_buf_put
  k -:tracekit/dma_buf_file_release
  k -:tracekit/dma_buf_release
  k -:tracekit/dma_buf_dynamic_attach
  k -:tracekit/dma_buf_dynamic_attach_ret
  k -:tracekit/dma_buf_detach
  k -:tracekit/dma_buf_map_attachment
  k -:tracekit/dma_buf_map_attachment_ret
  k -:tracekit/dma_buf_unmap_attachment
  k -:tracekit/dma_buf_pin
  k -:tracekit/dma_buf_unpin
  k -:tracekit/dma_buf_vmap
  k -:tracekit/dma_buf_vmap_ret
  k -:tracekit/dma_buf_vunmap
  k -:tracekit/dma_buf_mmap_internal
  k -:tracekit/dma_buf_begin_cpu_access
  k -:tracekit/dma_buf_end_cpu_access
  k -:tracekit/drm_prime_handle_to_fd_ioctl
  k -:tracekit/drm_prime_handle_to_fd_ioctl_ret
  k -:tracekit/drm_gem_prime_handle_to_dmabuf
  k -:tracekit/drm_gem_prime_handle_to_dmabuf_ret
  k -:tracekit/dma_buf_poll
  k -:tracekit/dma_buf_poll_ret
  k -:tracekit/dma_buf_poll_add_cb
  k -:tracekit/dma_buf_poll_add_cb_ret
  k -:tracekit/dma_buf_poll_cb
}
trap 'cleanup; exit 130' INT TERM
mkdir "$I" || exit 3
w "$I/buffer_size_kb" 16384
w "$I/trace_clock" mono
bad=0
if [ -e "$T/kprobe_events" ]; then
  k 'p:tracekit/drm_gem_object_init drm_gem_object_init dev=%di:x64 obj=%si:x64 size=%dx:u64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_object_init drm_gem_object_init dev=%di:x64 obj=%si:x64 size=%dx:u64' >&2; }
  k 'r:tracekit/drm_gem_object_init_ret drm_gem_object_init ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_object_init_ret drm_gem_object_init ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_gem_private_object_init drm_gem_private_object_init dev=%di:x64 obj=%si:x64 size=%dx:u64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_private_object_init drm_gem_private_object_init dev=%di:x64 obj=%si:x64 size=%dx:u64' >&2; }
  k 'p:tracekit/drm_gem_object_release drm_gem_object_release obj=%di:x64 size=+216(%di):u64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_object_release drm_gem_object_release obj=%di:x64 size=+216(%di):u64' >&2; }
  k 'p:tracekit/drm_gem_object_free drm_gem_object_free obj=%di:x64 size=+216(%di):u64 handle_count=+4(%di):u32 dma_buf=+232(%di):x64 import_attach=+240(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_object_free drm_gem_object_free obj=%di:x64 size=+216(%di):u64 handle_count=+4(%di):u32 dma_buf=+232(%di):x64 import_attach=+240(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_handle_create_tail drm_gem_handle_create_tail file=%di:x64 obj=%si:x64 handlep=%dx:x64 size=+216(%si):u64 refcount=+0(%si):u32 handle_count=+4(%si):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_handle_create_tail drm_gem_handle_create_tail file=%di:x64 obj=%si:x64 handlep=%dx:x64 size=+216(%si):u64 refcount=+0(%si):u32 handle_count=+4(%si):u32' >&2; }
  k 'r:tracekit/drm_gem_handle_create_tail_ret drm_gem_handle_create_tail ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_handle_create_tail_ret drm_gem_handle_create_tail ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_gem_handle_delete drm_gem_handle_delete file=%di:x64 handle=%si:u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_handle_delete drm_gem_handle_delete file=%di:x64 handle=%si:u32' >&2; }
  k 'r:tracekit/drm_gem_handle_delete_ret drm_gem_handle_delete ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_handle_delete_ret drm_gem_handle_delete ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_gem_object_release_handle drm_gem_object_release_handle handle=%di:s32 obj=%si:x64 file=%dx:x64 refcount=+0(%si):u32 handle_count=+4(%si):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_object_release_handle drm_gem_object_release_handle handle=%di:s32 obj=%si:x64 file=%dx:x64 refcount=+0(%si):u32 handle_count=+4(%si):u32' >&2; }
  k 'p:tracekit/drm_gem_object_handle_put_unlocked drm_gem_object_handle_put_unlocked obj=%di:x64 handle_count=+4(%di):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_object_handle_put_unlocked drm_gem_object_handle_put_unlocked obj=%di:x64 handle_count=+4(%di):u32' >&2; }
  k 'p:tracekit/drm_gem_object_lookup drm_gem_object_lookup file=%di:x64 handle=%si:u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_object_lookup drm_gem_object_lookup file=%di:x64 handle=%si:u32' >&2; }
  k 'r:tracekit/drm_gem_object_lookup_ret drm_gem_object_lookup obj=$retval:x64' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_object_lookup_ret drm_gem_object_lookup obj=$retval:x64' >&2; }
  k 'p:tracekit/drm_gem_release drm_gem_release dev=%di:x64 file=%si:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_release drm_gem_release dev=%di:x64 file=%si:x64' >&2; }
  k 'p:tracekit/drm_gem_close_ioctl drm_gem_close_ioctl dev=%di:x64 handle=+0(%si):u32 file=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_close_ioctl drm_gem_close_ioctl dev=%di:x64 handle=+0(%si):u32 file=%dx:x64' >&2; }
  k 'p:tracekit/drm_gem_flink_ioctl drm_gem_flink_ioctl dev=%di:x64 handle=+0(%si):u32 file=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_flink_ioctl drm_gem_flink_ioctl dev=%di:x64 handle=+0(%si):u32 file=%dx:x64' >&2; }
  k 'p:tracekit/drm_gem_open_ioctl drm_gem_open_ioctl dev=%di:x64 name=+0(%si):u32 file=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_open_ioctl drm_gem_open_ioctl dev=%di:x64 name=+0(%si):u32 file=%dx:x64' >&2; }
  k 'p:tracekit/drm_mode_create_dumb_ioctl drm_mode_create_dumb_ioctl dev=%di:x64 width=+4(%si):u32 height=+0(%si):u32 bpp=+8(%si):u32 file=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_mode_create_dumb_ioctl drm_mode_create_dumb_ioctl dev=%di:x64 width=+4(%si):u32 height=+0(%si):u32 bpp=+8(%si):u32 file=%dx:x64' >&2; }
  k 'r:tracekit/drm_mode_create_dumb_ioctl_ret drm_mode_create_dumb_ioctl ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_mode_create_dumb_ioctl_ret drm_mode_create_dumb_ioctl ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_mode_destroy_dumb_ioctl drm_mode_destroy_dumb_ioctl dev=%di:x64 handle=+0(%si):u32 file=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_mode_destroy_dumb_ioctl drm_mode_destroy_dumb_ioctl dev=%di:x64 handle=+0(%si):u32 file=%dx:x64' >&2; }
  k 'p:tracekit/drm_mode_create_dumb drm_mode_create_dumb dev=%di:x64 width=+4(%si):u32 height=+0(%si):u32 bpp=+8(%si):u32 file=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_mode_create_dumb drm_mode_create_dumb dev=%di:x64 width=+4(%si):u32 height=+0(%si):u32 bpp=+8(%si):u32 file=%dx:x64' >&2; }
  k 'r:tracekit/drm_mode_create_dumb_ret drm_mode_create_dumb ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_mode_create_dumb_ret drm_mode_create_dumb ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_mode_destroy_dumb drm_mode_destroy_dumb dev=%di:x64 handle=%si:u32 file=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_mode_destroy_dumb drm_mode_destroy_dumb dev=%di:x64 handle=%si:u32 file=%dx:x64' >&2; }
  k 'p:tracekit/drm_gem_dumb_map_offset drm_gem_dumb_map_offset file=%di:x64 dev=%si:x64 handle=%dx:u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_dumb_map_offset drm_gem_dumb_map_offset file=%di:x64 dev=%si:x64 handle=%dx:u32' >&2; }
  k 'p:tracekit/drm_gem_mmap drm_gem_mmap filp=%di:x64 vma=%si:x64 vm_start=+0(%si):x64 vm_end=+8(%si):x64 vm_pgoff=+80(%si):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_mmap drm_gem_mmap filp=%di:x64 vma=%si:x64 vm_start=+0(%si):x64 vm_end=+8(%si):x64 vm_pgoff=+80(%si):x64' >&2; }
  k 'p:tracekit/drm_gem_mmap_obj drm_gem_mmap_obj obj=%di:x64 obj_size=%si:u64 vma=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_mmap_obj drm_gem_mmap_obj obj=%di:x64 obj_size=%si:u64 vma=%dx:x64' >&2; }
  k 'p:tracekit/drm_gem_vm_open drm_gem_vm_open vma=%di:x64 obj=+96(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_vm_open drm_gem_vm_open vma=%di:x64 obj=+96(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_vm_close drm_gem_vm_close vma=%di:x64 obj=+96(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_vm_close drm_gem_vm_close vma=%di:x64 obj=+96(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_vmap drm_gem_vmap obj=%di:x64 map=%si:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_vmap drm_gem_vmap obj=%di:x64 map=%si:x64' >&2; }
  k 'r:tracekit/drm_gem_vmap_ret drm_gem_vmap ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_vmap_ret drm_gem_vmap ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_gem_vunmap drm_gem_vunmap obj=%di:x64 map=%si:x64 vaddr=+0(%si):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_vunmap drm_gem_vunmap obj=%di:x64 map=%si:x64 vaddr=+0(%si):x64' >&2; }
  k 'p:tracekit/drm_gem_pin drm_gem_pin obj=%di:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_pin drm_gem_pin obj=%di:x64' >&2; }
  k 'r:tracekit/drm_gem_pin_ret drm_gem_pin ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_pin_ret drm_gem_pin ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_gem_unpin drm_gem_unpin obj=%di:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_unpin drm_gem_unpin obj=%di:x64' >&2; }
  k 'p:tracekit/drm_gem_prime_handle_to_fd drm_gem_prime_handle_to_fd dev=%di:x64 file=%si:x64 handle=%dx:u32 flags=%cx:x32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_prime_handle_to_fd drm_gem_prime_handle_to_fd dev=%di:x64 file=%si:x64 handle=%dx:u32 flags=%cx:x32' >&2; }
  k 'r:tracekit/drm_gem_prime_handle_to_fd_ret drm_gem_prime_handle_to_fd ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_prime_handle_to_fd_ret drm_gem_prime_handle_to_fd ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_gem_prime_fd_to_handle drm_gem_prime_fd_to_handle dev=%di:x64 file=%si:x64 prime_fd=%dx:s32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_prime_fd_to_handle drm_gem_prime_fd_to_handle dev=%di:x64 file=%si:x64 prime_fd=%dx:s32' >&2; }
  k 'r:tracekit/drm_gem_prime_fd_to_handle_ret drm_gem_prime_fd_to_handle ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_prime_fd_to_handle_ret drm_gem_prime_fd_to_handle ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_gem_prime_export drm_gem_prime_export obj=%di:x64 flags=%si:x32 size=+216(%di):u64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_prime_export drm_gem_prime_export obj=%di:x64 flags=%si:x32 size=+216(%di):u64' >&2; }
  k 'r:tracekit/drm_gem_prime_export_ret drm_gem_prime_export dma_buf=$retval:x64' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_prime_export_ret drm_gem_prime_export dma_buf=$retval:x64' >&2; }
  k 'p:tracekit/drm_gem_dmabuf_export drm_gem_dmabuf_export dev=%di:x64 exp_info=%si:x64 priv=+48(%si):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_dmabuf_export drm_gem_dmabuf_export dev=%di:x64 exp_info=%si:x64 priv=+48(%si):x64' >&2; }
  k 'p:tracekit/drm_gem_prime_import_dev drm_gem_prime_import_dev dev=%di:x64 dma_buf=%si:x64 attach_dev=%dx:x64 exporter_priv=+112(%si):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_prime_import_dev drm_gem_prime_import_dev dev=%di:x64 dma_buf=%si:x64 attach_dev=%dx:x64 exporter_priv=+112(%si):x64' >&2; }
  k 'r:tracekit/drm_gem_prime_import_dev_ret drm_gem_prime_import_dev obj=$retval:x64' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_prime_import_dev_ret drm_gem_prime_import_dev obj=$retval:x64' >&2; }
  k 'p:tracekit/drm_gem_shmem_prime_import_no_map drm_gem_shmem_prime_import_no_map dev=%di:x64 dma_buf=%si:x64 exporter_priv=+112(%si):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_prime_import_no_map drm_gem_shmem_prime_import_no_map dev=%di:x64 dma_buf=%si:x64 exporter_priv=+112(%si):x64' >&2; }
  k 'r:tracekit/drm_gem_shmem_prime_import_no_map_ret drm_gem_shmem_prime_import_no_map obj=$retval:x64' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_shmem_prime_import_no_map_ret drm_gem_shmem_prime_import_no_map obj=$retval:x64' >&2; }
  k 'p:tracekit/drm_gem_dmabuf_release drm_gem_dmabuf_release dma_buf=%di:x64 obj=+112(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_dmabuf_release drm_gem_dmabuf_release dma_buf=%di:x64 obj=+112(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_map_attach drm_gem_map_attach dma_buf=%di:x64 attach=%si:x64 obj=+112(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_map_attach drm_gem_map_attach dma_buf=%di:x64 attach=%si:x64 obj=+112(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_map_detach drm_gem_map_detach dma_buf=%di:x64 attach=%si:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_map_detach drm_gem_map_detach dma_buf=%di:x64 attach=%si:x64' >&2; }
  k 'p:tracekit/drm_gem_map_dma_buf drm_gem_map_dma_buf attach=%di:x64 dir=%si:u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_map_dma_buf drm_gem_map_dma_buf attach=%di:x64 dir=%si:u32' >&2; }
  k 'p:tracekit/drm_gem_unmap_dma_buf drm_gem_unmap_dma_buf attach=%di:x64 sgt=%si:x64 dir=%dx:u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_unmap_dma_buf drm_gem_unmap_dma_buf attach=%di:x64 sgt=%si:x64 dir=%dx:u32' >&2; }
  k 'p:tracekit/drm_gem_dmabuf_vmap drm_gem_dmabuf_vmap dma_buf=%di:x64 map=%si:x64 obj=+112(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_dmabuf_vmap drm_gem_dmabuf_vmap dma_buf=%di:x64 map=%si:x64 obj=+112(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_dmabuf_vunmap drm_gem_dmabuf_vunmap dma_buf=%di:x64 map=%si:x64 obj=+112(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_dmabuf_vunmap drm_gem_dmabuf_vunmap dma_buf=%di:x64 map=%si:x64 obj=+112(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_dmabuf_mmap drm_gem_dmabuf_mmap dma_buf=%di:x64 vma=%si:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_dmabuf_mmap drm_gem_dmabuf_mmap dma_buf=%di:x64 vma=%si:x64' >&2; }
  k 'p:tracekit/drm_prime_add_buf_handle drm_prime_add_buf_handle prime_fpriv=%di:x64 dma_buf=%si:x64 handle=%dx:u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_prime_add_buf_handle drm_prime_add_buf_handle prime_fpriv=%di:x64 dma_buf=%si:x64 handle=%dx:u32' >&2; }
  k 'p:tracekit/drm_prime_remove_buf_handle drm_prime_remove_buf_handle prime_fpriv=%di:x64 handle=%si:u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_prime_remove_buf_handle drm_prime_remove_buf_handle prime_fpriv=%di:x64 handle=%si:u32' >&2; }
  k 'p:tracekit/drm_prime_gem_destroy drm_prime_gem_destroy obj=%di:x64 sgt=%si:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_prime_gem_destroy drm_prime_gem_destroy obj=%di:x64 sgt=%si:x64' >&2; }
  k 'p:tracekit/__drm_gem_shmem_create __drm_gem_shmem_create dev=%di:x64 size=%si:u64 private=%dx:u8' || { bad=$((bad+1)); echo 'refused: p:tracekit/__drm_gem_shmem_create __drm_gem_shmem_create dev=%di:x64 size=%si:u64 private=%dx:u8' >&2; }
  k 'r:tracekit/__drm_gem_shmem_create_ret __drm_gem_shmem_create shmem=$retval:x64' || { bad=$((bad+1)); echo 'refused: r:tracekit/__drm_gem_shmem_create_ret __drm_gem_shmem_create shmem=$retval:x64' >&2; }
  k 'p:tracekit/drm_gem_shmem_free drm_gem_shmem_free shmem=%di:x64 pages_use_count=+376(%di):u32 vmap_use_count=+424(%di):u32 sgt=+408(%di):x64 import_attach=+240(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_free drm_gem_shmem_free shmem=%di:x64 pages_use_count=+376(%di):u32 vmap_use_count=+424(%di):u32 sgt=+408(%di):x64 import_attach=+240(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_shmem_dumb_create drm_gem_shmem_dumb_create file=%di:x64 dev=%si:x64 width=+4(%dx):u32 height=+0(%dx):u32 bpp=+8(%dx):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_dumb_create drm_gem_shmem_dumb_create file=%di:x64 dev=%si:x64 width=+4(%dx):u32 height=+0(%dx):u32 bpp=+8(%dx):u32' >&2; }
  k 'p:tracekit/drm_gem_shmem_get_pages drm_gem_shmem_get_pages shmem=%di:x64 pages_use_count=+376(%di):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_get_pages drm_gem_shmem_get_pages shmem=%di:x64 pages_use_count=+376(%di):u32' >&2; }
  k 'p:tracekit/drm_gem_shmem_get_pages_locked drm_gem_shmem_get_pages_locked shmem=%di:x64 pages_use_count=+376(%di):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_get_pages_locked drm_gem_shmem_get_pages_locked shmem=%di:x64 pages_use_count=+376(%di):u32' >&2; }
  k 'p:tracekit/drm_gem_shmem_put_pages drm_gem_shmem_put_pages shmem=%di:x64 pages_use_count=+376(%di):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_put_pages drm_gem_shmem_put_pages shmem=%di:x64 pages_use_count=+376(%di):u32' >&2; }
  k 'p:tracekit/drm_gem_shmem_put_pages_locked drm_gem_shmem_put_pages_locked shmem=%di:x64 pages_use_count=+376(%di):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_put_pages_locked drm_gem_shmem_put_pages_locked shmem=%di:x64 pages_use_count=+376(%di):u32' >&2; }
  k 'p:tracekit/drm_gem_shmem_pin drm_gem_shmem_pin shmem=%di:x64 pages_use_count=+376(%di):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_pin drm_gem_shmem_pin shmem=%di:x64 pages_use_count=+376(%di):u32' >&2; }
  k 'p:tracekit/drm_gem_shmem_unpin drm_gem_shmem_unpin shmem=%di:x64 pages_use_count=+376(%di):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_unpin drm_gem_shmem_unpin shmem=%di:x64 pages_use_count=+376(%di):u32' >&2; }
  k 'p:tracekit/drm_gem_shmem_vmap drm_gem_shmem_vmap shmem=%di:x64 map=%si:x64 vmap_use_count=+424(%di):u32 vaddr=+416(%di):x64 import_attach=+240(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_vmap drm_gem_shmem_vmap shmem=%di:x64 map=%si:x64 vmap_use_count=+424(%di):u32 vaddr=+416(%di):x64 import_attach=+240(%di):x64' >&2; }
  k 'r:tracekit/drm_gem_shmem_vmap_ret drm_gem_shmem_vmap ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_shmem_vmap_ret drm_gem_shmem_vmap ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_gem_shmem_vunmap drm_gem_shmem_vunmap shmem=%di:x64 map=%si:x64 vmap_use_count=+424(%di):u32 vaddr=+416(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_vunmap drm_gem_shmem_vunmap shmem=%di:x64 map=%si:x64 vmap_use_count=+424(%di):u32 vaddr=+416(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_shmem_pin_locked drm_gem_shmem_pin_locked shmem=%di:x64 pages_use_count=+376(%di):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_pin_locked drm_gem_shmem_pin_locked shmem=%di:x64 pages_use_count=+376(%di):u32' >&2; }
  k 'p:tracekit/drm_gem_shmem_unpin_locked drm_gem_shmem_unpin_locked shmem=%di:x64 pages_use_count=+376(%di):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_unpin_locked drm_gem_shmem_unpin_locked shmem=%di:x64 pages_use_count=+376(%di):u32' >&2; }
  k 'p:tracekit/drm_gem_shmem_vmap_locked drm_gem_shmem_vmap_locked shmem=%di:x64 map=%si:x64 vmap_use_count=+424(%di):u32 vaddr=+416(%di):x64 import_attach=+240(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_vmap_locked drm_gem_shmem_vmap_locked shmem=%di:x64 map=%si:x64 vmap_use_count=+424(%di):u32 vaddr=+416(%di):x64 import_attach=+240(%di):x64' >&2; }
  k 'r:tracekit/drm_gem_shmem_vmap_locked_ret drm_gem_shmem_vmap_locked ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_shmem_vmap_locked_ret drm_gem_shmem_vmap_locked ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_gem_shmem_vunmap_locked drm_gem_shmem_vunmap_locked shmem=%di:x64 map=%si:x64 vmap_use_count=+424(%di):u32 vaddr=+416(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_vunmap_locked drm_gem_shmem_vunmap_locked shmem=%di:x64 map=%si:x64 vmap_use_count=+424(%di):u32 vaddr=+416(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_shmem_mmap drm_gem_shmem_mmap shmem=%di:x64 vma=%si:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_mmap drm_gem_shmem_mmap shmem=%di:x64 vma=%si:x64' >&2; }
  k 'p:tracekit/drm_gem_shmem_vm_open drm_gem_shmem_vm_open vma=%di:x64 obj=+96(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_vm_open drm_gem_shmem_vm_open vma=%di:x64 obj=+96(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_shmem_vm_close drm_gem_shmem_vm_close vma=%di:x64 obj=+96(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_vm_close drm_gem_shmem_vm_close vma=%di:x64 obj=+96(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_shmem_get_sg_table drm_gem_shmem_get_sg_table shmem=%di:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_get_sg_table drm_gem_shmem_get_sg_table shmem=%di:x64' >&2; }
  k 'p:tracekit/drm_gem_shmem_get_pages_sgt drm_gem_shmem_get_pages_sgt shmem=%di:x64 sgt=+408(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_get_pages_sgt drm_gem_shmem_get_pages_sgt shmem=%di:x64 sgt=+408(%di):x64' >&2; }
  k 'p:tracekit/drm_gem_shmem_prime_import_sg_table drm_gem_shmem_prime_import_sg_table dev=%di:x64 attach=%si:x64 sgt=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_shmem_prime_import_sg_table drm_gem_shmem_prime_import_sg_table dev=%di:x64 attach=%si:x64 sgt=%dx:x64' >&2; }
  k 'p:tracekit/drm_gem_fb_vmap drm_gem_fb_vmap fb=%di:x64 map=%si:x64 data=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_fb_vmap drm_gem_fb_vmap fb=%di:x64 map=%si:x64 data=%dx:x64' >&2; }
  k 'r:tracekit/drm_gem_fb_vmap_ret drm_gem_fb_vmap ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_fb_vmap_ret drm_gem_fb_vmap ret=$retval:s32' >&2; }
  k 'p:tracekit/drm_gem_fb_vunmap drm_gem_fb_vunmap fb=%di:x64 map=%si:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_fb_vunmap drm_gem_fb_vunmap fb=%di:x64 map=%si:x64' >&2; }
  k 'p:tracekit/drm_gem_fb_destroy drm_gem_fb_destroy fb=%di:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_fb_destroy drm_gem_fb_destroy fb=%di:x64' >&2; }
  k 'p:tracekit/vgem_gem_create_object vgem_gem_create_object dev=%di:x64 size=%si:u64' || { bad=$((bad+1)); echo 'refused: p:tracekit/vgem_gem_create_object vgem_gem_create_object dev=%di:x64 size=%si:u64' >&2; }
  k 'p:tracekit/vgem_fence_attach_ioctl vgem_fence_attach_ioctl dev=%di:x64 handle=+0(%si):u32 flags=+4(%si):x32 file=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/vgem_fence_attach_ioctl vgem_fence_attach_ioctl dev=%di:x64 handle=+0(%si):u32 flags=+4(%si):x32 file=%dx:x64' >&2; }
  k 'r:tracekit/vgem_fence_attach_ioctl_ret vgem_fence_attach_ioctl ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/vgem_fence_attach_ioctl_ret vgem_fence_attach_ioctl ret=$retval:s32' >&2; }
  k 'p:tracekit/vgem_fence_signal_ioctl vgem_fence_signal_ioctl dev=%di:x64 fence_id=+0(%si):u32 file=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/vgem_fence_signal_ioctl vgem_fence_signal_ioctl dev=%di:x64 fence_id=+0(%si):u32 file=%dx:x64' >&2; }
  k 'r:tracekit/vgem_fence_signal_ioctl_ret vgem_fence_signal_ioctl ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/vgem_fence_signal_ioctl_ret vgem_fence_signal_ioctl ret=$retval:s32' >&2; }
  k 'p:tracekit/vgem_fence_timeout vgem_fence_timeout timer=%di:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/vgem_fence_timeout vgem_fence_timeout timer=%di:x64' >&2; }
  k 'p:tracekit/vgem_fence_release vgem_fence_release fence=%di:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/vgem_fence_release vgem_fence_release fence=%di:x64' >&2; }
  k 'p:tracekit/vgem_postclose vgem_postclose dev=%di:x64 file=%si:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/vgem_postclose vgem_postclose dev=%di:x64 file=%si:x64' >&2; }
  k 'p:tracekit/dma_buf_export dma_buf_export exp_info=%di:x64 exp_name=+0(+0(%di)):string size=+24(%di):u64 priv=+48(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_export dma_buf_export exp_info=%di:x64 exp_name=+0(+0(%di)):string size=+24(%di):u64 priv=+48(%di):x64' >&2; }
  k 'r:tracekit/dma_buf_export_ret dma_buf_export dmabuf=$retval:x64' || { bad=$((bad+1)); echo 'refused: r:tracekit/dma_buf_export_ret dma_buf_export dmabuf=$retval:x64' >&2; }
  k 'p:tracekit/dma_buf_fd dma_buf_fd dmabuf=%di:x64 flags=%si:x32' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_fd dma_buf_fd dmabuf=%di:x64 flags=%si:x32' >&2; }
  k 'r:tracekit/dma_buf_fd_ret dma_buf_fd fd=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/dma_buf_fd_ret dma_buf_fd fd=$retval:s32' >&2; }
  k 'p:tracekit/dma_buf_get dma_buf_get fd=%di:s32' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_get dma_buf_get fd=%di:s32' >&2; }
  k 'r:tracekit/dma_buf_get_ret dma_buf_get dmabuf=$retval:x64' || { bad=$((bad+1)); echo 'refused: r:tracekit/dma_buf_get_ret dma_buf_get dmabuf=$retval:x64' >&2; }
  k 'p:tracekit/dma_buf_put dma_buf_put dmabuf=%di:x64 f_ref=+168(+8(%di)):s64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_put dma_buf_put dmabuf=%di:x64 f_ref=+168(+8(%di)):s64' >&2; }
  k 'p:tracekit/dma_buf_file_release dma_buf_file_release inode=%di:x64 file=%si:x64 dmabuf=+24(%si):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_file_release dma_buf_file_release inode=%di:x64 file=%si:x64 dmabuf=+24(%si):x64' >&2; }
  k 'p:tracekit/dma_buf_release dma_buf_release dentry=%di:x64 dmabuf=+120(%di):x64 size=+0(+120(%di)):u64 exp_name=+0(+64(+120(%di))):string priv=+112(+120(%di)):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_release dma_buf_release dentry=%di:x64 dmabuf=+120(%di):x64 size=+0(+120(%di)):u64 exp_name=+0(+64(+120(%di))):string priv=+112(+120(%di)):x64' >&2; }
  k 'p:tracekit/dma_buf_dynamic_attach dma_buf_dynamic_attach dmabuf=%di:x64 dev=%si:x64 importer_ops=%dx:x64 importer_priv=%cx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_dynamic_attach dma_buf_dynamic_attach dmabuf=%di:x64 dev=%si:x64 importer_ops=%dx:x64 importer_priv=%cx:x64' >&2; }
  k 'r:tracekit/dma_buf_dynamic_attach_ret dma_buf_dynamic_attach attach=$retval:x64' || { bad=$((bad+1)); echo 'refused: r:tracekit/dma_buf_dynamic_attach_ret dma_buf_dynamic_attach attach=$retval:x64' >&2; }
  k 'p:tracekit/dma_buf_detach dma_buf_detach dmabuf=%di:x64 attach=%si:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_detach dma_buf_detach dmabuf=%di:x64 attach=%si:x64' >&2; }
  k 'p:tracekit/dma_buf_map_attachment dma_buf_map_attachment attach=%di:x64 dir=%si:u32 dmabuf=+0(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_map_attachment dma_buf_map_attachment attach=%di:x64 dir=%si:u32 dmabuf=+0(%di):x64' >&2; }
  k 'r:tracekit/dma_buf_map_attachment_ret dma_buf_map_attachment sgt=$retval:x64' || { bad=$((bad+1)); echo 'refused: r:tracekit/dma_buf_map_attachment_ret dma_buf_map_attachment sgt=$retval:x64' >&2; }
  k 'p:tracekit/dma_buf_unmap_attachment dma_buf_unmap_attachment attach=%di:x64 sgt=%si:x64 dir=%dx:u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_unmap_attachment dma_buf_unmap_attachment attach=%di:x64 sgt=%si:x64 dir=%dx:u32' >&2; }
  k 'p:tracekit/dma_buf_pin dma_buf_pin attach=%di:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_pin dma_buf_pin attach=%di:x64' >&2; }
  k 'p:tracekit/dma_buf_unpin dma_buf_unpin attach=%di:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_unpin dma_buf_unpin attach=%di:x64' >&2; }
  k 'p:tracekit/dma_buf_vmap dma_buf_vmap dmabuf=%di:x64 map=%si:x64 vmapping_counter=+40(%di):u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_vmap dma_buf_vmap dmabuf=%di:x64 map=%si:x64 vmapping_counter=+40(%di):u32' >&2; }
  k 'r:tracekit/dma_buf_vmap_ret dma_buf_vmap ret=$retval:s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/dma_buf_vmap_ret dma_buf_vmap ret=$retval:s32' >&2; }
  k 'p:tracekit/dma_buf_vunmap dma_buf_vunmap dmabuf=%di:x64 map=%si:x64 vmapping_counter=+40(%di):u32 vaddr=+0(%si):x64 vmap_ptr=+48(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_vunmap dma_buf_vunmap dmabuf=%di:x64 map=%si:x64 vmapping_counter=+40(%di):u32 vaddr=+0(%si):x64 vmap_ptr=+48(%di):x64' >&2; }
  k 'p:tracekit/dma_buf_mmap_internal dma_buf_mmap_internal file=%di:x64 vma=%si:x64 dmabuf=+24(%di):x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_mmap_internal dma_buf_mmap_internal file=%di:x64 vma=%si:x64 dmabuf=+24(%di):x64' >&2; }
  k 'p:tracekit/dma_buf_begin_cpu_access dma_buf_begin_cpu_access dmabuf=%di:x64 dir=%si:u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_begin_cpu_access dma_buf_begin_cpu_access dmabuf=%di:x64 dir=%si:u32' >&2; }
  k 'p:tracekit/dma_buf_end_cpu_access dma_buf_end_cpu_access dmabuf=%di:x64 dir=%si:u32' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_end_cpu_access dma_buf_end_cpu_access dmabuf=%di:x64 dir=%si:u32' >&2; }
  k 'p:tracekit/drm_prime_handle_to_fd_ioctl drm_prime_handle_to_fd_ioctl dev=%di:x64 handle=+0(%si):u32 flags=+4(%si):x32 file=%dx:x64' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_prime_handle_to_fd_ioctl drm_prime_handle_to_fd_ioctl dev=%di:x64 handle=+0(%si):u32 flags=+4(%si):x32 file=%dx:x64' >&2; }
  k 'r:tracekit/drm_prime_handle_to_fd_ioctl_ret drm_prime_handle_to_fd_ioctl ret=$retval:s32 handle=+0($arg2):u32 flags=+4($arg2):x32 fd=+8($arg2):s32' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_prime_handle_to_fd_ioctl_ret drm_prime_handle_to_fd_ioctl ret=$retval:s32 handle=+0($arg2):u32 flags=+4($arg2):x32 fd=+8($arg2):s32' >&2; }
  k 'p:tracekit/drm_gem_prime_handle_to_dmabuf drm_gem_prime_handle_to_dmabuf dev=%di:x64 file=%si:x64 handle=%dx:u32 flags=%cx:x32' || { bad=$((bad+1)); echo 'refused: p:tracekit/drm_gem_prime_handle_to_dmabuf drm_gem_prime_handle_to_dmabuf dev=%di:x64 file=%si:x64 handle=%dx:u32 flags=%cx:x32' >&2; }
  k 'r:tracekit/drm_gem_prime_handle_to_dmabuf_ret drm_gem_prime_handle_to_dmabuf dmabuf=$retval:x64 f_ref=+168(+8($retval)):s64' || { bad=$((bad+1)); echo 'refused: r:tracekit/drm_gem_prime_handle_to_dmabuf_ret drm_gem_prime_handle_to_dmabuf dmabuf=$retval:x64 f_ref=+168(+8($retval)):s64' >&2; }
  k 'p:tracekit/dma_buf_poll dma_buf_poll file=%di:x64 dmabuf=+24(%di):x64 f_ref=+168(%di):s64 events=+8(%si):x32 qproc=+0(%si):symbol' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_poll dma_buf_poll file=%di:x64 dmabuf=+24(%di):x64 f_ref=+168(%di):s64 events=+8(%si):x32 qproc=+0(%si):symbol' >&2; }
  k 'r:tracekit/dma_buf_poll_ret dma_buf_poll revents=$retval:x32' || { bad=$((bad+1)); echo 'refused: r:tracekit/dma_buf_poll_ret dma_buf_poll revents=$retval:x32' >&2; }
  k 'p:tracekit/dma_buf_poll_add_cb dma_buf_poll_add_cb resv=%di:x64 write=%si:u8 dcb=%dx:x64 active=+32(%dx):x32' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_poll_add_cb dma_buf_poll_add_cb resv=%di:x64 write=%si:u8 dcb=%dx:x64 active=+32(%dx):x32' >&2; }
  k 'r:tracekit/dma_buf_poll_add_cb_ret dma_buf_poll_add_cb queued=$retval:u8' || { bad=$((bad+1)); echo 'refused: r:tracekit/dma_buf_poll_add_cb_ret dma_buf_poll_add_cb queued=$retval:u8' >&2; }
  k 'p:tracekit/dma_buf_poll_cb dma_buf_poll_cb fence=%di:x64 cb=%si:x64 active=+32(%si):x32 poll=+24(%si):x64 context=+32(%di):u64 seqno=+40(%di):u64' || { bad=$((bad+1)); echo 'refused: p:tracekit/dma_buf_poll_cb dma_buf_poll_cb fence=%di:x64 cb=%si:x64 active=+32(%si):x32 poll=+24(%si):x64 context=+32(%di):u64 seqno=+40(%di):u64' >&2; }
  [ "$bad" -gt 0 ] && { echo "$bad probe(s) refused; tracing/error_log:" >&2; cat "$T/error_log" >&2; }
else
  echo "no kprobe_events on this kernel: recording tracepoints only" >&2
fi
[ -e "$I/events/tracekit/drm_gem_object_init/enable" ] && w "$I/events/tracekit/drm_gem_object_init/enable" 1
[ -e "$I/events/tracekit/drm_gem_object_init_ret/enable" ] && w "$I/events/tracekit/drm_gem_object_init_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_private_object_init/enable" ] && w "$I/events/tracekit/drm_gem_private_object_init/enable" 1
[ -e "$I/events/tracekit/drm_gem_object_release/enable" ] && w "$I/events/tracekit/drm_gem_object_release/enable" 1
[ -e "$I/events/tracekit/drm_gem_object_free/enable" ] && w "$I/events/tracekit/drm_gem_object_free/enable" 1
[ -e "$I/events/tracekit/drm_gem_handle_create_tail/enable" ] && w "$I/events/tracekit/drm_gem_handle_create_tail/enable" 1
[ -e "$I/events/tracekit/drm_gem_handle_create_tail_ret/enable" ] && w "$I/events/tracekit/drm_gem_handle_create_tail_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_handle_delete/enable" ] && w "$I/events/tracekit/drm_gem_handle_delete/enable" 1
[ -e "$I/events/tracekit/drm_gem_handle_delete_ret/enable" ] && w "$I/events/tracekit/drm_gem_handle_delete_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_object_release_handle/enable" ] && w "$I/events/tracekit/drm_gem_object_release_handle/enable" 1
[ -e "$I/events/tracekit/drm_gem_object_handle_put_unlocked/enable" ] && w "$I/events/tracekit/drm_gem_object_handle_put_unlocked/enable" 1
[ -e "$I/events/tracekit/drm_gem_object_lookup/enable" ] && w "$I/events/tracekit/drm_gem_object_lookup/enable" 1
[ -e "$I/events/tracekit/drm_gem_object_lookup_ret/enable" ] && w "$I/events/tracekit/drm_gem_object_lookup_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_release/enable" ] && w "$I/events/tracekit/drm_gem_release/enable" 1
[ -e "$I/events/tracekit/drm_gem_close_ioctl/enable" ] && w "$I/events/tracekit/drm_gem_close_ioctl/enable" 1
[ -e "$I/events/tracekit/drm_gem_flink_ioctl/enable" ] && w "$I/events/tracekit/drm_gem_flink_ioctl/enable" 1
[ -e "$I/events/tracekit/drm_gem_open_ioctl/enable" ] && w "$I/events/tracekit/drm_gem_open_ioctl/enable" 1
[ -e "$I/events/tracekit/drm_mode_create_dumb_ioctl/enable" ] && w "$I/events/tracekit/drm_mode_create_dumb_ioctl/enable" 1
[ -e "$I/events/tracekit/drm_mode_create_dumb_ioctl_ret/enable" ] && w "$I/events/tracekit/drm_mode_create_dumb_ioctl_ret/enable" 1
[ -e "$I/events/tracekit/drm_mode_destroy_dumb_ioctl/enable" ] && w "$I/events/tracekit/drm_mode_destroy_dumb_ioctl/enable" 1
[ -e "$I/events/tracekit/drm_mode_create_dumb/enable" ] && w "$I/events/tracekit/drm_mode_create_dumb/enable" 1
[ -e "$I/events/tracekit/drm_mode_create_dumb_ret/enable" ] && w "$I/events/tracekit/drm_mode_create_dumb_ret/enable" 1
[ -e "$I/events/tracekit/drm_mode_destroy_dumb/enable" ] && w "$I/events/tracekit/drm_mode_destroy_dumb/enable" 1
[ -e "$I/events/tracekit/drm_gem_dumb_map_offset/enable" ] && w "$I/events/tracekit/drm_gem_dumb_map_offset/enable" 1
[ -e "$I/events/tracekit/drm_gem_mmap/enable" ] && w "$I/events/tracekit/drm_gem_mmap/enable" 1
[ -e "$I/events/tracekit/drm_gem_mmap_obj/enable" ] && w "$I/events/tracekit/drm_gem_mmap_obj/enable" 1
[ -e "$I/events/tracekit/drm_gem_vm_open/enable" ] && w "$I/events/tracekit/drm_gem_vm_open/enable" 1
[ -e "$I/events/tracekit/drm_gem_vm_close/enable" ] && w "$I/events/tracekit/drm_gem_vm_close/enable" 1
[ -e "$I/events/tracekit/drm_gem_vmap/enable" ] && w "$I/events/tracekit/drm_gem_vmap/enable" 1
[ -e "$I/events/tracekit/drm_gem_vmap_ret/enable" ] && w "$I/events/tracekit/drm_gem_vmap_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_vunmap/enable" ] && w "$I/events/tracekit/drm_gem_vunmap/enable" 1
[ -e "$I/events/tracekit/drm_gem_pin/enable" ] && w "$I/events/tracekit/drm_gem_pin/enable" 1
[ -e "$I/events/tracekit/drm_gem_pin_ret/enable" ] && w "$I/events/tracekit/drm_gem_pin_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_unpin/enable" ] && w "$I/events/tracekit/drm_gem_unpin/enable" 1
[ -e "$I/events/tracekit/drm_gem_prime_handle_to_fd/enable" ] && w "$I/events/tracekit/drm_gem_prime_handle_to_fd/enable" 1
[ -e "$I/events/tracekit/drm_gem_prime_handle_to_fd_ret/enable" ] && w "$I/events/tracekit/drm_gem_prime_handle_to_fd_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_prime_fd_to_handle/enable" ] && w "$I/events/tracekit/drm_gem_prime_fd_to_handle/enable" 1
[ -e "$I/events/tracekit/drm_gem_prime_fd_to_handle_ret/enable" ] && w "$I/events/tracekit/drm_gem_prime_fd_to_handle_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_prime_export/enable" ] && w "$I/events/tracekit/drm_gem_prime_export/enable" 1
[ -e "$I/events/tracekit/drm_gem_prime_export_ret/enable" ] && w "$I/events/tracekit/drm_gem_prime_export_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_dmabuf_export/enable" ] && w "$I/events/tracekit/drm_gem_dmabuf_export/enable" 1
[ -e "$I/events/tracekit/drm_gem_prime_import_dev/enable" ] && w "$I/events/tracekit/drm_gem_prime_import_dev/enable" 1
[ -e "$I/events/tracekit/drm_gem_prime_import_dev_ret/enable" ] && w "$I/events/tracekit/drm_gem_prime_import_dev_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_prime_import_no_map/enable" ] && w "$I/events/tracekit/drm_gem_shmem_prime_import_no_map/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_prime_import_no_map_ret/enable" ] && w "$I/events/tracekit/drm_gem_shmem_prime_import_no_map_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_dmabuf_release/enable" ] && w "$I/events/tracekit/drm_gem_dmabuf_release/enable" 1
[ -e "$I/events/tracekit/drm_gem_map_attach/enable" ] && w "$I/events/tracekit/drm_gem_map_attach/enable" 1
[ -e "$I/events/tracekit/drm_gem_map_detach/enable" ] && w "$I/events/tracekit/drm_gem_map_detach/enable" 1
[ -e "$I/events/tracekit/drm_gem_map_dma_buf/enable" ] && w "$I/events/tracekit/drm_gem_map_dma_buf/enable" 1
[ -e "$I/events/tracekit/drm_gem_unmap_dma_buf/enable" ] && w "$I/events/tracekit/drm_gem_unmap_dma_buf/enable" 1
[ -e "$I/events/tracekit/drm_gem_dmabuf_vmap/enable" ] && w "$I/events/tracekit/drm_gem_dmabuf_vmap/enable" 1
[ -e "$I/events/tracekit/drm_gem_dmabuf_vunmap/enable" ] && w "$I/events/tracekit/drm_gem_dmabuf_vunmap/enable" 1
[ -e "$I/events/tracekit/drm_gem_dmabuf_mmap/enable" ] && w "$I/events/tracekit/drm_gem_dmabuf_mmap/enable" 1
[ -e "$I/events/tracekit/drm_prime_add_buf_handle/enable" ] && w "$I/events/tracekit/drm_prime_add_buf_handle/enable" 1
[ -e "$I/events/tracekit/drm_prime_remove_buf_handle/enable" ] && w "$I/events/tracekit/drm_prime_remove_buf_handle/enable" 1
[ -e "$I/events/tracekit/drm_prime_gem_destroy/enable" ] && w "$I/events/tracekit/drm_prime_gem_destroy/enable" 1
[ -e "$I/events/tracekit/__drm_gem_shmem_create/enable" ] && w "$I/events/tracekit/__drm_gem_shmem_create/enable" 1
[ -e "$I/events/tracekit/__drm_gem_shmem_create_ret/enable" ] && w "$I/events/tracekit/__drm_gem_shmem_create_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_free/enable" ] && w "$I/events/tracekit/drm_gem_shmem_free/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_dumb_create/enable" ] && w "$I/events/tracekit/drm_gem_shmem_dumb_create/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_get_pages/enable" ] && w "$I/events/tracekit/drm_gem_shmem_get_pages/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_get_pages_locked/enable" ] && w "$I/events/tracekit/drm_gem_shmem_get_pages_locked/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_put_pages/enable" ] && w "$I/events/tracekit/drm_gem_shmem_put_pages/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_put_pages_locked/enable" ] && w "$I/events/tracekit/drm_gem_shmem_put_pages_locked/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_pin/enable" ] && w "$I/events/tracekit/drm_gem_shmem_pin/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_unpin/enable" ] && w "$I/events/tracekit/drm_gem_shmem_unpin/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_vmap/enable" ] && w "$I/events/tracekit/drm_gem_shmem_vmap/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_vmap_ret/enable" ] && w "$I/events/tracekit/drm_gem_shmem_vmap_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_vunmap/enable" ] && w "$I/events/tracekit/drm_gem_shmem_vunmap/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_pin_locked/enable" ] && w "$I/events/tracekit/drm_gem_shmem_pin_locked/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_unpin_locked/enable" ] && w "$I/events/tracekit/drm_gem_shmem_unpin_locked/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_vmap_locked/enable" ] && w "$I/events/tracekit/drm_gem_shmem_vmap_locked/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_vmap_locked_ret/enable" ] && w "$I/events/tracekit/drm_gem_shmem_vmap_locked_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_vunmap_locked/enable" ] && w "$I/events/tracekit/drm_gem_shmem_vunmap_locked/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_mmap/enable" ] && w "$I/events/tracekit/drm_gem_shmem_mmap/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_vm_open/enable" ] && w "$I/events/tracekit/drm_gem_shmem_vm_open/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_vm_close/enable" ] && w "$I/events/tracekit/drm_gem_shmem_vm_close/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_get_sg_table/enable" ] && w "$I/events/tracekit/drm_gem_shmem_get_sg_table/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_get_pages_sgt/enable" ] && w "$I/events/tracekit/drm_gem_shmem_get_pages_sgt/enable" 1
[ -e "$I/events/tracekit/drm_gem_shmem_prime_import_sg_table/enable" ] && w "$I/events/tracekit/drm_gem_shmem_prime_import_sg_table/enable" 1
[ -e "$I/events/tracekit/drm_gem_fb_vmap/enable" ] && w "$I/events/tracekit/drm_gem_fb_vmap/enable" 1
[ -e "$I/events/tracekit/drm_gem_fb_vmap_ret/enable" ] && w "$I/events/tracekit/drm_gem_fb_vmap_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_fb_vunmap/enable" ] && w "$I/events/tracekit/drm_gem_fb_vunmap/enable" 1
[ -e "$I/events/tracekit/drm_gem_fb_destroy/enable" ] && w "$I/events/tracekit/drm_gem_fb_destroy/enable" 1
[ -e "$I/events/tracekit/vgem_gem_create_object/enable" ] && w "$I/events/tracekit/vgem_gem_create_object/enable" 1
[ -e "$I/events/tracekit/vgem_fence_attach_ioctl/enable" ] && w "$I/events/tracekit/vgem_fence_attach_ioctl/enable" 1
[ -e "$I/events/tracekit/vgem_fence_attach_ioctl_ret/enable" ] && w "$I/events/tracekit/vgem_fence_attach_ioctl_ret/enable" 1
[ -e "$I/events/tracekit/vgem_fence_signal_ioctl/enable" ] && w "$I/events/tracekit/vgem_fence_signal_ioctl/enable" 1
[ -e "$I/events/tracekit/vgem_fence_signal_ioctl_ret/enable" ] && w "$I/events/tracekit/vgem_fence_signal_ioctl_ret/enable" 1
[ -e "$I/events/tracekit/vgem_fence_timeout/enable" ] && w "$I/events/tracekit/vgem_fence_timeout/enable" 1
[ -e "$I/events/tracekit/vgem_fence_release/enable" ] && w "$I/events/tracekit/vgem_fence_release/enable" 1
[ -e "$I/events/tracekit/vgem_postclose/enable" ] && w "$I/events/tracekit/vgem_postclose/enable" 1
[ -e "$I/events/tracekit/dma_buf_export/enable" ] && w "$I/events/tracekit/dma_buf_export/enable" 1
[ -e "$I/events/tracekit/dma_buf_export_ret/enable" ] && w "$I/events/tracekit/dma_buf_export_ret/enable" 1
[ -e "$I/events/tracekit/dma_buf_fd/enable" ] && w "$I/events/tracekit/dma_buf_fd/enable" 1
[ -e "$I/events/tracekit/dma_buf_fd_ret/enable" ] && w "$I/events/tracekit/dma_buf_fd_ret/enable" 1
[ -e "$I/events/tracekit/dma_buf_get/enable" ] && w "$I/events/tracekit/dma_buf_get/enable" 1
[ -e "$I/events/tracekit/dma_buf_get_ret/enable" ] && w "$I/events/tracekit/dma_buf_get_ret/enable" 1
[ -e "$I/events/tracekit/dma_buf_put/enable" ] && w "$I/events/tracekit/dma_buf_put/enable" 1
[ -e "$I/events/tracekit/dma_buf_file_release/enable" ] && w "$I/events/tracekit/dma_buf_file_release/enable" 1
[ -e "$I/events/tracekit/dma_buf_release/enable" ] && w "$I/events/tracekit/dma_buf_release/enable" 1
[ -e "$I/events/tracekit/dma_buf_dynamic_attach/enable" ] && w "$I/events/tracekit/dma_buf_dynamic_attach/enable" 1
[ -e "$I/events/tracekit/dma_buf_dynamic_attach_ret/enable" ] && w "$I/events/tracekit/dma_buf_dynamic_attach_ret/enable" 1
[ -e "$I/events/tracekit/dma_buf_detach/enable" ] && w "$I/events/tracekit/dma_buf_detach/enable" 1
[ -e "$I/events/tracekit/dma_buf_map_attachment/enable" ] && w "$I/events/tracekit/dma_buf_map_attachment/enable" 1
[ -e "$I/events/tracekit/dma_buf_map_attachment_ret/enable" ] && w "$I/events/tracekit/dma_buf_map_attachment_ret/enable" 1
[ -e "$I/events/tracekit/dma_buf_unmap_attachment/enable" ] && w "$I/events/tracekit/dma_buf_unmap_attachment/enable" 1
[ -e "$I/events/tracekit/dma_buf_pin/enable" ] && w "$I/events/tracekit/dma_buf_pin/enable" 1
[ -e "$I/events/tracekit/dma_buf_unpin/enable" ] && w "$I/events/tracekit/dma_buf_unpin/enable" 1
[ -e "$I/events/tracekit/dma_buf_vmap/enable" ] && w "$I/events/tracekit/dma_buf_vmap/enable" 1
[ -e "$I/events/tracekit/dma_buf_vmap_ret/enable" ] && w "$I/events/tracekit/dma_buf_vmap_ret/enable" 1
[ -e "$I/events/tracekit/dma_buf_vunmap/enable" ] && w "$I/events/tracekit/dma_buf_vunmap/enable" 1
[ -e "$I/events/tracekit/dma_buf_mmap_internal/enable" ] && w "$I/events/tracekit/dma_buf_mmap_internal/enable" 1
[ -e "$I/events/tracekit/dma_buf_begin_cpu_access/enable" ] && w "$I/events/tracekit/dma_buf_begin_cpu_access/enable" 1
[ -e "$I/events/tracekit/dma_buf_end_cpu_access/enable" ] && w "$I/events/tracekit/dma_buf_end_cpu_access/enable" 1
[ -e "$I/events/tracekit/drm_prime_handle_to_fd_ioctl/enable" ] && w "$I/events/tracekit/drm_prime_handle_to_fd_ioctl/enable" 1
[ -e "$I/events/tracekit/drm_prime_handle_to_fd_ioctl_ret/enable" ] && w "$I/events/tracekit/drm_prime_handle_to_fd_ioctl_ret/enable" 1
[ -e "$I/events/tracekit/drm_gem_prime_handle_to_dmabuf/enable" ] && w "$I/events/tracekit/drm_gem_prime_handle_to_dmabuf/enable" 1
[ -e "$I/events/tracekit/drm_gem_prime_handle_to_dmabuf_ret/enable" ] && w "$I/events/tracekit/drm_gem_prime_handle_to_dmabuf_ret/enable" 1
[ -e "$I/events/tracekit/dma_buf_poll/enable" ] && w "$I/events/tracekit/dma_buf_poll/enable" 1
[ -e "$I/events/tracekit/dma_buf_poll_ret/enable" ] && w "$I/events/tracekit/dma_buf_poll_ret/enable" 1
[ -e "$I/events/tracekit/dma_buf_poll_add_cb/enable" ] && w "$I/events/tracekit/dma_buf_poll_add_cb/enable" 1
[ -e "$I/events/tracekit/dma_buf_poll_add_cb_ret/enable" ] && w "$I/events/tracekit/dma_buf_poll_add_cb_ret/enable" 1
[ -e "$I/events/tracekit/dma_buf_poll_cb/enable" ] && w "$I/events/tracekit/dma_buf_poll_cb/enable" 1
[ -e "$I/events/amdgpu/amdgpu_bo_create/enable" ] && w "$I/events/amdgpu/amdgpu_bo_create/enable" 1
[ -e "$I/events/amdgpu/amdgpu_bo_move/enable" ] && w "$I/events/amdgpu/amdgpu_bo_move/enable" 1
[ -e "$I/events/amdgpu/amdgpu_ttm_bo_move/enable" ] && w "$I/events/amdgpu/amdgpu_ttm_bo_move/enable" 1
[ -e "$I/events/amdgpu/amdgpu_vm_bo_map/enable" ] && w "$I/events/amdgpu/amdgpu_vm_bo_map/enable" 1
[ -e "$I/events/amdgpu/amdgpu_vm_bo_unmap/enable" ] && w "$I/events/amdgpu/amdgpu_vm_bo_unmap/enable" 1
[ -e "$I/events/amdgpu/amdgpu_cs_ioctl/enable" ] && w "$I/events/amdgpu/amdgpu_cs_ioctl/enable" 1
[ -e "$I/events/amdgpu/amdgpu_sched_run_job/enable" ] && w "$I/events/amdgpu/amdgpu_sched_run_job/enable" 1
[ -e "$I/events/amdgpu/amdgpu_bo_list_set/enable" ] && w "$I/events/amdgpu/amdgpu_bo_list_set/enable" 1
[ -e "$I/events/amdgpu/amdgpu_cs/enable" ] && w "$I/events/amdgpu/amdgpu_cs/enable" 1
[ -e "$I/events/amdgpu/amdgpu_cs_bo_status/enable" ] && w "$I/events/amdgpu/amdgpu_cs_bo_status/enable" 1
[ -e "$I/events/amdgpu/amdgpu_vm_grab_id/enable" ] && w "$I/events/amdgpu/amdgpu_vm_grab_id/enable" 1
[ -e "$I/events/amdgpu/amdgpu_vm_bo_update/enable" ] && w "$I/events/amdgpu/amdgpu_vm_bo_update/enable" 1
[ -e "$I/events/amdgpu/amdgpu_vm_bo_mapping/enable" ] && w "$I/events/amdgpu/amdgpu_vm_bo_mapping/enable" 1
[ -e "$I/events/amdgpu/amdgpu_vm_bo_cs/enable" ] && w "$I/events/amdgpu/amdgpu_vm_bo_cs/enable" 1
[ -e "$I/events/amdgpu/amdgpu_vm_update_ptes/enable" ] && w "$I/events/amdgpu/amdgpu_vm_update_ptes/enable" 1
[ -e "$I/events/amdgpu/amdgpu_vm_set_ptes/enable" ] && w "$I/events/amdgpu/amdgpu_vm_set_ptes/enable" 1
[ -e "$I/events/amdgpu/amdgpu_vm_copy_ptes/enable" ] && w "$I/events/amdgpu/amdgpu_vm_copy_ptes/enable" 1
[ -e "$I/events/amdgpu/amdgpu_vm_flush/enable" ] && w "$I/events/amdgpu/amdgpu_vm_flush/enable" 1
[ -e "$I/events/amdgpu/amdgpu_pasid_allocated/enable" ] && w "$I/events/amdgpu/amdgpu_pasid_allocated/enable" 1
[ -e "$I/events/amdgpu/amdgpu_pasid_freed/enable" ] && w "$I/events/amdgpu/amdgpu_pasid_freed/enable" 1
[ -e "$I/events/amdgpu/amdgpu_ib_pipe_sync/enable" ] && w "$I/events/amdgpu/amdgpu_ib_pipe_sync/enable" 1
[ -e "$I/events/amdgpu/amdgpu_reset_reg_dumps/enable" ] && w "$I/events/amdgpu/amdgpu_reset_reg_dumps/enable" 1
[ -e "$I/events/amdgpu/amdgpu_runpm_reference_dumps/enable" ] && w "$I/events/amdgpu/amdgpu_runpm_reference_dumps/enable" 1
[ -e "$I/events/amdgpu/amdgpu_isolation/enable" ] && w "$I/events/amdgpu/amdgpu_isolation/enable" 1
[ -e "$I/events/amdgpu/amdgpu_device_rreg/enable" ] && w "$I/events/amdgpu/amdgpu_device_rreg/enable" 1
[ -e "$I/events/amdgpu/amdgpu_device_wreg/enable" ] && w "$I/events/amdgpu/amdgpu_device_wreg/enable" 1
[ -e "$I/events/amdgpu/amdgpu_iv/enable" ] && w "$I/events/amdgpu/amdgpu_iv/enable" 1
[ -e "$I/events/amdgpu/amdgpu_mm_rreg/enable" ] && w "$I/events/amdgpu/amdgpu_mm_rreg/enable" 1
[ -e "$I/events/amdgpu/amdgpu_mm_wreg/enable" ] && w "$I/events/amdgpu/amdgpu_mm_wreg/enable" 1
[ -e "$I/events/dma_buf/dma_buf_export/enable" ] && w "$I/events/dma_buf/dma_buf_export/enable" 1
[ -e "$I/events/dma_buf/dma_buf_get/enable" ] && w "$I/events/dma_buf/dma_buf_get/enable" 1
[ -e "$I/events/dma_buf/dma_buf_put/enable" ] && w "$I/events/dma_buf/dma_buf_put/enable" 1
[ -e "$I/events/dma_buf/dma_buf_dynamic_attach/enable" ] && w "$I/events/dma_buf/dma_buf_dynamic_attach/enable" 1
[ -e "$I/events/dma_buf/dma_buf_detach/enable" ] && w "$I/events/dma_buf/dma_buf_detach/enable" 1
[ -e "$I/events/dma_buf/dma_buf_fd/enable" ] && w "$I/events/dma_buf/dma_buf_fd/enable" 1
[ -e "$I/events/dma_buf/dma_buf_mmap_internal/enable" ] && w "$I/events/dma_buf/dma_buf_mmap_internal/enable" 1
[ -e "$I/events/dma_buf/dma_buf_mmap/enable" ] && w "$I/events/dma_buf/dma_buf_mmap/enable" 1
[ -e "$I/events/dma_fence/dma_fence_init/enable" ] && w "$I/events/dma_fence/dma_fence_init/enable" 1
[ -e "$I/events/dma_fence/dma_fence_signaled/enable" ] && w "$I/events/dma_fence/dma_fence_signaled/enable" 1
[ -e "$I/events/dma_fence/dma_fence_destroy/enable" ] && w "$I/events/dma_fence/dma_fence_destroy/enable" 1
[ -e "$I/events/dma_fence/dma_fence_emit/enable" ] && w "$I/events/dma_fence/dma_fence_emit/enable" 1
[ -e "$I/events/dma_fence/dma_fence_enable_signal/enable" ] && w "$I/events/dma_fence/dma_fence_enable_signal/enable" 1
[ -e "$I/events/dma_fence/dma_fence_wait_start/enable" ] && w "$I/events/dma_fence/dma_fence_wait_start/enable" 1
[ -e "$I/events/dma_fence/dma_fence_wait_end/enable" ] && w "$I/events/dma_fence/dma_fence_wait_end/enable" 1
[ -e "$I/events/drm/drm_vblank_event/enable" ] && w "$I/events/drm/drm_vblank_event/enable" 1
[ -e "$I/events/drm/drm_vblank_event_queued/enable" ] && w "$I/events/drm/drm_vblank_event_queued/enable" 1
[ -e "$I/events/drm/drm_vblank_event_delivered/enable" ] && w "$I/events/drm/drm_vblank_event_delivered/enable" 1
[ -e "$I/events/gpu_scheduler/drm_sched_job/enable" ] && w "$I/events/gpu_scheduler/drm_sched_job/enable" 1
[ -e "$I/events/gpu_scheduler/drm_run_job/enable" ] && w "$I/events/gpu_scheduler/drm_run_job/enable" 1
[ -e "$I/events/gpu_scheduler/drm_sched_process_job/enable" ] && w "$I/events/gpu_scheduler/drm_sched_process_job/enable" 1
[ -e "$I/events/gpu_scheduler/drm_sched_job_queue/enable" ] && w "$I/events/gpu_scheduler/drm_sched_job_queue/enable" 1
[ -e "$I/events/gpu_scheduler/drm_sched_job_run/enable" ] && w "$I/events/gpu_scheduler/drm_sched_job_run/enable" 1
[ -e "$I/events/gpu_scheduler/drm_sched_job_done/enable" ] && w "$I/events/gpu_scheduler/drm_sched_job_done/enable" 1
[ -e "$I/events/gpu_scheduler/drm_sched_job_wait_dep/enable" ] && w "$I/events/gpu_scheduler/drm_sched_job_wait_dep/enable" 1
[ -e "$I/events/gpu_scheduler/drm_sched_job_add_dep/enable" ] && w "$I/events/gpu_scheduler/drm_sched_job_add_dep/enable" 1
[ -e "$I/events/gpu_scheduler/drm_sched_job_unschedulable/enable" ] && w "$I/events/gpu_scheduler/drm_sched_job_unschedulable/enable" 1
[ -e "$I/events/i915/i915_gem_object_create/enable" ] && w "$I/events/i915/i915_gem_object_create/enable" 1
[ -e "$I/events/i915/i915_gem_object_destroy/enable" ] && w "$I/events/i915/i915_gem_object_destroy/enable" 1
[ -e "$I/events/i915/i915_vma_bind/enable" ] && w "$I/events/i915/i915_vma_bind/enable" 1
[ -e "$I/events/i915/i915_vma_unbind/enable" ] && w "$I/events/i915/i915_vma_unbind/enable" 1
[ -e "$I/events/i915/i915_request_add/enable" ] && w "$I/events/i915/i915_request_add/enable" 1
[ -e "$I/events/i915/i915_request_retire/enable" ] && w "$I/events/i915/i915_request_retire/enable" 1
[ -e "$I/events/i915/i915_gem_object_pwrite/enable" ] && w "$I/events/i915/i915_gem_object_pwrite/enable" 1
[ -e "$I/events/i915/i915_gem_object_pread/enable" ] && w "$I/events/i915/i915_gem_object_pread/enable" 1
[ -e "$I/events/i915/i915_gem_object_fault/enable" ] && w "$I/events/i915/i915_gem_object_fault/enable" 1
[ -e "$I/events/i915/i915_gem_object_clflush/enable" ] && w "$I/events/i915/i915_gem_object_clflush/enable" 1
[ -e "$I/events/i915/i915_gem_shrink/enable" ] && w "$I/events/i915/i915_gem_shrink/enable" 1
[ -e "$I/events/i915/i915_gem_evict/enable" ] && w "$I/events/i915/i915_gem_evict/enable" 1
[ -e "$I/events/i915/i915_gem_evict_node/enable" ] && w "$I/events/i915/i915_gem_evict_node/enable" 1
[ -e "$I/events/i915/i915_gem_evict_vm/enable" ] && w "$I/events/i915/i915_gem_evict_vm/enable" 1
[ -e "$I/events/i915/i915_request_queue/enable" ] && w "$I/events/i915/i915_request_queue/enable" 1
[ -e "$I/events/i915/i915_request_guc_submit/enable" ] && w "$I/events/i915/i915_request_guc_submit/enable" 1
[ -e "$I/events/i915/i915_request_submit/enable" ] && w "$I/events/i915/i915_request_submit/enable" 1
[ -e "$I/events/i915/i915_request_execute/enable" ] && w "$I/events/i915/i915_request_execute/enable" 1
[ -e "$I/events/i915/i915_request_in/enable" ] && w "$I/events/i915/i915_request_in/enable" 1
[ -e "$I/events/i915/i915_request_out/enable" ] && w "$I/events/i915/i915_request_out/enable" 1
[ -e "$I/events/i915/i915_request_wait_begin/enable" ] && w "$I/events/i915/i915_request_wait_begin/enable" 1
[ -e "$I/events/i915/i915_request_wait_end/enable" ] && w "$I/events/i915/i915_request_wait_end/enable" 1
[ -e "$I/events/i915/i915_reg_rw/enable" ] && w "$I/events/i915/i915_reg_rw/enable" 1
[ -e "$I/events/i915/i915_ppgtt_create/enable" ] && w "$I/events/i915/i915_ppgtt_create/enable" 1
[ -e "$I/events/i915/i915_ppgtt_release/enable" ] && w "$I/events/i915/i915_ppgtt_release/enable" 1
[ -e "$I/events/i915/i915_context_create/enable" ] && w "$I/events/i915/i915_context_create/enable" 1
[ -e "$I/events/i915/i915_context_free/enable" ] && w "$I/events/i915/i915_context_free/enable" 1
[ -e "$I/events/lima/lima_task_submit/enable" ] && w "$I/events/lima/lima_task_submit/enable" 1
[ -e "$I/events/lima/lima_task_run/enable" ] && w "$I/events/lima/lima_task_run/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gpu_submit/enable" ] && w "$I/events/drm_msm_gpu/msm_gpu_submit/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gpu_submit_flush/enable" ] && w "$I/events/drm_msm_gpu/msm_gpu_submit_flush/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gpu_submit_retired/enable" ] && w "$I/events/drm_msm_gpu/msm_gpu_submit_retired/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gem_shrink/enable" ] && w "$I/events/drm_msm_gpu/msm_gem_shrink/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gem_purge_vmaps/enable" ] && w "$I/events/drm_msm_gpu/msm_gem_purge_vmaps/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gem_purge/enable" ] && w "$I/events/drm_msm_gpu/msm_gem_purge/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gem_evict/enable" ] && w "$I/events/drm_msm_gpu/msm_gem_evict/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gpu_freq_change/enable" ] && w "$I/events/drm_msm_gpu/msm_gpu_freq_change/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gmu_freq_change/enable" ] && w "$I/events/drm_msm_gpu/msm_gmu_freq_change/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gpu_suspend/enable" ] && w "$I/events/drm_msm_gpu/msm_gpu_suspend/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gpu_resume/enable" ] && w "$I/events/drm_msm_gpu/msm_gpu_resume/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gpu_submit_flush_wptr/enable" ] && w "$I/events/drm_msm_gpu/msm_gpu_submit_flush_wptr/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gpu_preemption_trigger/enable" ] && w "$I/events/drm_msm_gpu/msm_gpu_preemption_trigger/enable" 1
[ -e "$I/events/drm_msm_gpu/msm_gpu_preemption_irq/enable" ] && w "$I/events/drm_msm_gpu/msm_gpu_preemption_irq/enable" 1
[ -e "$I/events/panthor/gpu_power_status/enable" ] && w "$I/events/panthor/gpu_power_status/enable" 1
[ -e "$I/events/panthor/gpu_job_irq/enable" ] && w "$I/events/panthor/gpu_job_irq/enable" 1
[ -e "$I/events/v3d/v3d_submit_cl_ioctl/enable" ] && w "$I/events/v3d/v3d_submit_cl_ioctl/enable" 1
[ -e "$I/events/v3d/v3d_submit_cl/enable" ] && w "$I/events/v3d/v3d_submit_cl/enable" 1
[ -e "$I/events/v3d/v3d_bcl_irq/enable" ] && w "$I/events/v3d/v3d_bcl_irq/enable" 1
[ -e "$I/events/v3d/v3d_rcl_irq/enable" ] && w "$I/events/v3d/v3d_rcl_irq/enable" 1
[ -e "$I/events/v3d/v3d_tfu_irq/enable" ] && w "$I/events/v3d/v3d_tfu_irq/enable" 1
[ -e "$I/events/v3d/v3d_csd_irq/enable" ] && w "$I/events/v3d/v3d_csd_irq/enable" 1
[ -e "$I/events/v3d/v3d_submit_tfu_ioctl/enable" ] && w "$I/events/v3d/v3d_submit_tfu_ioctl/enable" 1
[ -e "$I/events/v3d/v3d_submit_tfu/enable" ] && w "$I/events/v3d/v3d_submit_tfu/enable" 1
[ -e "$I/events/v3d/v3d_submit_csd_ioctl/enable" ] && w "$I/events/v3d/v3d_submit_csd_ioctl/enable" 1
[ -e "$I/events/v3d/v3d_submit_csd/enable" ] && w "$I/events/v3d/v3d_submit_csd/enable" 1
[ -e "$I/events/v3d/v3d_submit_cpu_ioctl/enable" ] && w "$I/events/v3d/v3d_submit_cpu_ioctl/enable" 1
[ -e "$I/events/v3d/v3d_cpu_job_begin/enable" ] && w "$I/events/v3d/v3d_cpu_job_begin/enable" 1
[ -e "$I/events/v3d/v3d_cpu_job_end/enable" ] && w "$I/events/v3d/v3d_cpu_job_end/enable" 1
[ -e "$I/events/v3d/v3d_cache_clean_begin/enable" ] && w "$I/events/v3d/v3d_cache_clean_begin/enable" 1
[ -e "$I/events/v3d/v3d_cache_clean_end/enable" ] && w "$I/events/v3d/v3d_cache_clean_end/enable" 1
[ -e "$I/events/v3d/v3d_reset_begin/enable" ] && w "$I/events/v3d/v3d_reset_begin/enable" 1
[ -e "$I/events/v3d/v3d_reset_end/enable" ] && w "$I/events/v3d/v3d_reset_end/enable" 1
[ -e "$I/events/vc4/vc4_submit_cl/enable" ] && w "$I/events/vc4/vc4_submit_cl/enable" 1
[ -e "$I/events/vc4/vc4_rcl_end_irq/enable" ] && w "$I/events/vc4/vc4_rcl_end_irq/enable" 1
[ -e "$I/events/vc4/vc4_bcl_end_irq/enable" ] && w "$I/events/vc4/vc4_bcl_end_irq/enable" 1
[ -e "$I/events/vc4/vc4_submit_cl_ioctl/enable" ] && w "$I/events/vc4/vc4_submit_cl_ioctl/enable" 1
[ -e "$I/events/vc4/vc4_wait_for_seqno_begin/enable" ] && w "$I/events/vc4/vc4_wait_for_seqno_begin/enable" 1
[ -e "$I/events/vc4/vc4_wait_for_seqno_end/enable" ] && w "$I/events/vc4/vc4_wait_for_seqno_end/enable" 1
[ -e "$I/events/virtio_gpu/virtio_gpu_cmd_queue/enable" ] && w "$I/events/virtio_gpu/virtio_gpu_cmd_queue/enable" 1
[ -e "$I/events/virtio_gpu/virtio_gpu_cmd_response/enable" ] && w "$I/events/virtio_gpu/virtio_gpu_cmd_response/enable" 1
[ -e "$I/events/xe/xe_vma_bind/enable" ] && w "$I/events/xe/xe_vma_bind/enable" 1
[ -e "$I/events/xe/xe_vma_unbind/enable" ] && w "$I/events/xe/xe_vma_unbind/enable" 1
[ -e "$I/events/xe/xe_bo_cpu_fault/enable" ] && w "$I/events/xe/xe_bo_cpu_fault/enable" 1
[ -e "$I/events/xe/xe_bo_move/enable" ] && w "$I/events/xe/xe_bo_move/enable" 1
[ -e "$I/events/xe/xe_bo_create/enable" ] && w "$I/events/xe/xe_bo_create/enable" 1
[ -e "$I/events/xe/xe_bo_validate/enable" ] && w "$I/events/xe/xe_bo_validate/enable" 1
[ -e "$I/events/xe/xe_reg_rw/enable" ] && w "$I/events/xe/xe_reg_rw/enable" 1
[ -e "$I/events/xe/xe_vma_flush/enable" ] && w "$I/events/xe/xe_vma_flush/enable" 1
[ -e "$I/events/xe/xe_vma_pagefault/enable" ] && w "$I/events/xe/xe_vma_pagefault/enable" 1
[ -e "$I/events/xe/xe_vma_acc/enable" ] && w "$I/events/xe/xe_vma_acc/enable" 1
[ -e "$I/events/xe/xe_vma_pf_bind/enable" ] && w "$I/events/xe/xe_vma_pf_bind/enable" 1
[ -e "$I/events/xe/xe_vma_userptr_rebind_worker/enable" ] && w "$I/events/xe/xe_vma_userptr_rebind_worker/enable" 1
[ -e "$I/events/xe/xe_vma_userptr_rebind_exec/enable" ] && w "$I/events/xe/xe_vma_userptr_rebind_exec/enable" 1
[ -e "$I/events/xe/xe_vma_rebind_worker/enable" ] && w "$I/events/xe/xe_vma_rebind_worker/enable" 1
[ -e "$I/events/xe/xe_vma_rebind_exec/enable" ] && w "$I/events/xe/xe_vma_rebind_exec/enable" 1
[ -e "$I/events/xe/xe_vma_userptr_invalidate/enable" ] && w "$I/events/xe/xe_vma_userptr_invalidate/enable" 1
[ -e "$I/events/xe/xe_vma_invalidate/enable" ] && w "$I/events/xe/xe_vma_invalidate/enable" 1
[ -e "$I/events/xe/xe_vma_evict/enable" ] && w "$I/events/xe/xe_vma_evict/enable" 1
[ -e "$I/events/xe/xe_vma_userptr_invalidate_complete/enable" ] && w "$I/events/xe/xe_vma_userptr_invalidate_complete/enable" 1
{ echo "# tracer: nop"; echo "# tracekit record (shell): $(uname -r) clock mono"; } > "$OUT"
cat "$I/trace_pipe" >> "$OUT" &
CAT=$!
w "$I/tracing_on" 1
if [ "$#" -gt 0 ]; then
  rm -f "$OUT.go"; mkfifo "$OUT.go" || exit 3
  # held at a gate until its syscall filters are set
  sh -c 'read _ < "$0"; exec "$@"' "$OUT.go" "$@" &
  CMD=$!
  [ -e "$I/events/syscalls/sys_enter_ioctl/enable" ] && w "$I/events/syscalls/sys_enter_ioctl/filter" "common_pid == $CMD" && w "$I/events/syscalls/sys_enter_ioctl/enable" 1
  [ -e "$I/events/syscalls/sys_exit_ioctl/enable" ] && w "$I/events/syscalls/sys_exit_ioctl/filter" "common_pid == $CMD" && w "$I/events/syscalls/sys_exit_ioctl/enable" 1
  [ -e "$I/events/syscalls/sys_enter_mmap/enable" ] && w "$I/events/syscalls/sys_enter_mmap/filter" "common_pid == $CMD" && w "$I/events/syscalls/sys_enter_mmap/enable" 1
  [ -e "$I/events/syscalls/sys_exit_mmap/enable" ] && w "$I/events/syscalls/sys_exit_mmap/filter" "common_pid == $CMD" && w "$I/events/syscalls/sys_exit_mmap/enable" 1
  [ -e "$I/events/syscalls/sys_enter_munmap/enable" ] && w "$I/events/syscalls/sys_enter_munmap/filter" "common_pid == $CMD" && w "$I/events/syscalls/sys_enter_munmap/enable" 1
  [ -e "$I/events/syscalls/sys_enter_close/enable" ] && w "$I/events/syscalls/sys_enter_close/filter" "common_pid == $CMD" && w "$I/events/syscalls/sys_enter_close/enable" 1
  [ -e "$I/events/syscalls/sys_enter_exit_group/enable" ] && w "$I/events/syscalls/sys_enter_exit_group/filter" "common_pid == $CMD" && w "$I/events/syscalls/sys_enter_exit_group/enable" 1
  n=0; until echo go 2>/dev/null > "$OUT.go"; do n=$((n+1)); [ "$n" -gt 50 ] && break; done
  wait "$CMD"; rc=$?
  rm -f "$OUT.go"
else
  echo "recording to $OUT: Ctrl-C to stop" >&2
  wait "$CAT"; rc=0
fi
sleep 1
cleanup
echo "wrote $OUT ($(wc -l < "$OUT") lines)" >&2
exit "$rc"
