package maps

import (
	"errors"

	"golang.org/x/sys/unix"
)

func isNoSpace(err error) bool { return errors.Is(err, unix.ENOSPC) }
