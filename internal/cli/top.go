package cli

func top(env Env, args []string) int { return 0 }
