Filesystem              Type     1024-blocks     Used Available Capacity Mounted on
devtmpfs                devtmpfs    12334460        0  12334460       0% /dev
tmpfs                   tmpfs       24684084        0  24684084       0% /dev/shm
/dev/vda                ext4       264212084 25314168  69971720      27% /
tmpfs                   tmpfs       12342040        0  12342040       0% /sys/fs/cgroup

