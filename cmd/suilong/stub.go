package main

import "fmt"

func errNotYet(cmd string) error {
	return fmt.Errorf("suilong %s is not available in this build yet", cmd)
}
