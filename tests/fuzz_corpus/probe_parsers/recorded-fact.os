"Debian GNU/Linux 12 (bookworm)"

