package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/template"
)

// Shell completion. `muxfer completion SHELL` prints a script made at run
// time from the command table and from each command's flag set, built by
// the same define that the command parses its command line with: a flag
// added to a command is completed without anyone editing a list. What a
// value completes to comes from the placeholder its usage names in
// backquotes (flag.UnquoteUsage): FILE and PATH complete names on disk, DIR
// folders, a|b|c one of those words. Positional arguments are read the
// same way from the first line of the command's synopsis.

var completionCommand = command{
	name:    "completion",
	summary: "print a shell completion script: bash, zsh or fish",
	synopsis: "completion bash|zsh|fish\n\n" +
		"Prints a script that completes muxfer's commands, their flags, and file names for\n" +
		"send's paths. Install it as the examples show: bash's folder is read by the\n" +
		"bash-completion package (without it, source the script in ~/.bashrc); zsh's line\n" +
		"goes in ~/.zshrc, after compinit.",
	examples: "  muxfer completion bash > /etc/bash_completion.d/muxfer\n" +
		"  source <(muxfer completion zsh)\n" +
		"  muxfer completion fish > ~/.config/fish/completions/muxfer.fish\n",
	define: func(*flag.FlagSet) action { return runCompletion },
}

// scripts holds the template of each shell's completion script.
var scripts = map[string]*template.Template{
	"bash": script("bash", bashScript),
	"zsh":  script("zsh", zshScript),
	"fish": script("fish", fishScript),
}

func runCompletion(e env, fs *flag.FlagSet, pos []string) error {
	if len(pos) != 1 || scripts[pos[0]] == nil {
		return usageError{"give one shell: bash, zsh or fish"}
	}
	return writeCompletion(e.stdout, pos[0])
}

// writeCompletion writes the completion script for shell to w.
func writeCompletion(w io.Writer, shell string) error {
	return scripts[shell].Execute(w, completionData{Software: software(), Commands: completionSpecs()})
}

// completionData is what a script template is executed with.
type completionData struct {
	Software string        // the muxfer that wrote the script
	Commands []commandSpec // in the order of the command table
}

// commandSpec is what a shell needs to know to complete one command.
type commandSpec struct {
	Name    string     // as typed: send
	Summary string     // one line, shown beside the name by zsh and fish
	Flags   []flagSpec // sorted by name
	Args    []argSpec  // positional arguments, in order
}

// flagSpec is one flag of a command.
type flagSpec struct {
	Name  string     // without dashes
	Usage string     // its first line, without backquotes
	Value *valueSpec // nil for a bool flag, which takes no value
}

// argSpec is one positional argument of a command.
type argSpec struct {
	Repeats bool // PATH...: this and every argument after it
	Value   valueSpec
}

// valueSpec says what a flag's value or a positional argument completes to.
type valueSpec struct {
	Placeholder string   // FILE, DIR, N...
	Files       bool     // any name on disk
	Dirs        bool     // folders only
	Choices     []string // one of these words
}

// Nothing tells whether the value completes to nothing (an address, a number...).
func (v valueSpec) Nothing() bool { return !v.Files && !v.Dirs && len(v.Choices) == 0 }

// helpUsage describes -help, which the flag package gives every command.
const helpUsage = "show the command's usage, flags and examples"

// completionSpecs describes every command for completion: its flags as its
// flag set defines them, plus --help, and its positional arguments as its
// synopsis names them.
func completionSpecs() []commandSpec {
	var specs []commandSpec
	for _, c := range commands {
		s := commandSpec{Name: c.name, Summary: c.summary, Args: positionals(c.synopsis)}
		fs, _ := c.flags(io.Discard)
		fs.VisitAll(func(f *flag.Flag) { s.Flags = append(s.Flags, describeFlag(f)) })
		s.Flags = append(s.Flags, flagSpec{Name: "help", Usage: helpUsage})
		slices.SortFunc(s.Flags, func(a, b flagSpec) int { return strings.Compare(a.Name, b.Name) })
		specs = append(specs, s)
	}
	return specs
}

func describeFlag(f *flag.Flag) flagSpec {
	placeholder, usage := flag.UnquoteUsage(f)
	usage, _, _ = strings.Cut(usage, "\n")
	spec := flagSpec{Name: f.Name, Usage: usage}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return spec
	}
	v := placeholderValue(placeholder)
	spec.Value = &v
	return spec
}

// positionals reads the positional arguments from the first line of a
// synopsis: the words after the command's name, up to the first "[".
func positionals(synopsis string) []argSpec {
	line, _, _ := strings.Cut(synopsis, "\n")
	words := strings.Fields(line)
	var args []argSpec
	for _, w := range words[1:] {
		if strings.HasPrefix(w, "[") {
			break
		}
		p, repeats := strings.CutSuffix(w, "...")
		args = append(args, argSpec{Repeats: repeats, Value: placeholderValue(p)})
	}
	return args
}

// placeholderValue says what a placeholder in a synopsis or a flag's
// usage completes to.
func placeholderValue(p string) valueSpec {
	v := valueSpec{Placeholder: p}
	switch {
	case p == "FILE" || p == "PATH":
		v.Files = true
	case p == "DIR":
		v.Dirs = true
	case strings.Contains(p, "|"):
		v.Choices = strings.Split(p, "|")
	}
	return v
}

func script(name, text string) *template.Template {
	return template.Must(template.New(name).Funcs(template.FuncMap{
		"q":     shellQuote,
		"words": func(s []string) string { return strings.Join(s, " ") },
		"cmdnames": func(cs []commandSpec) string {
			var names []string
			for _, c := range cs {
				names = append(names, c.Name)
			}
			return strings.Join(names, " ")
		},
		"repeats": func(args []argSpec) bool { return len(args) > 0 && args[len(args)-1].Repeats },
		"flags":   flagWords,
		"valued":  valuedNames,
		"zsharg":  zshArg,
		"zshflag": zshFlag,
		"fishq":   fishQuote,
	}).Parse(text))
}

// shellQuote quotes s for bash and zsh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// fishQuote quotes s for fish, whose single quotes take \' and \\.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// flagWords is every flag of a command as typed: "--dir --grace ...".
func flagWords(flags []flagSpec) string {
	var w []string
	for _, f := range flags {
		w = append(w, "--"+f.Name)
	}
	return strings.Join(w, " ")
}

// valuedNames lists the flags that take a value, between spaces, for
// bash to find " NAME " in.
func valuedNames(flags []flagSpec) string {
	var b strings.Builder
	b.WriteString(" ")
	for _, f := range flags {
		if f.Value != nil {
			b.WriteString(f.Name + " ")
		}
	}
	return b.String()
}

// zshAction is what _arguments runs to complete a value.
func zshAction(v valueSpec) string {
	switch {
	case v.Files:
		return "_files"
	case v.Dirs:
		return "_files -/"
	case len(v.Choices) > 0:
		return "(" + strings.Join(v.Choices, " ") + ")"
	}
	return " " // no completion; zsh shows the message
}

// zshFlag is a flag's spec for _arguments: --name=[usage]:VALUE:action.
func zshFlag(f flagSpec) string {
	usage := strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, ":", `\:`).Replace(f.Usage)
	if f.Value == nil {
		return shellQuote("--" + f.Name + "[" + usage + "]")
	}
	return shellQuote("--" + f.Name + "=[" + usage + "]:" + zshMessage(f.Value.Placeholder) + ":" + zshAction(*f.Value))
}

// zshArg is a positional argument's spec for _arguments.
func zshArg(i int, a argSpec) string {
	pos := fmt.Sprint(i + 1)
	if a.Repeats {
		pos = "*"
	}
	return shellQuote(pos + ":" + zshMessage(a.Value.Placeholder) + ":" + zshAction(a.Value))
}

func zshMessage(placeholder string) string { return strings.ReplaceAll(placeholder, ":", `\:`) }

const bashScript = `# bash completion for {{.Software}}, printed by: muxfer completion bash
# Install: muxfer completion bash > /etc/bash_completion.d/muxfer
#      or: source <(muxfer completion bash)   (in ~/.bashrc)

# _muxfer_compgen ARGS...: COMPREPLY gets what compgen ARGS prints, one
# candidate a line, so that names with spaces stay whole.
_muxfer_compgen() {
    local line
    COMPREPLY=()
    while IFS= read -r line; do
        COMPREPLY+=("$line")
    done < <(compgen "$@")
}

_muxfer_files() {
    compopt -o filenames 2>/dev/null
    _muxfer_compgen -f -- "$1"
}

_muxfer_dirs() {
    compopt -o filenames 2>/dev/null
    _muxfer_compgen -d -- "$1"
}

_muxfer() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    COMPREPLY=()
    if ((COMP_CWORD == 1)); then
        if [[ $cur == -* ]]; then
            _muxfer_compgen -W '--help --version' -- "$cur"
        else
            _muxfer_compgen -W {{q (cmdnames .Commands)}} -- "$cur"
        fi
        return 0
    fi

    # The flags of the command; valued: those that take a value. args: how
    # many positional arguments it names; more=1: the last one repeats.
    local cmd=${COMP_WORDS[1]} flags valued args more
    case $cmd in
{{- range .Commands}}
    {{.Name}}) flags={{q (flags .Flags)}} valued={{q (valued .Flags)}} args={{len .Args}} more={{if repeats .Args}}1{{else}}0{{end}} ;;
{{- end}}
    *) return 0 ;;
    esac

    # Walk the words before the cursor, as the command parses them: flags
    # may come anywhere, -- ends them. n counts positional arguments; want
    # is the flag whose value the cursor is on.
    local i=2 n=0 w name want= ended=
    while ((i < COMP_CWORD)); do
        w=${COMP_WORDS[i]}
        if [[ -n $ended || $w != -?* ]]; then
            n=$((n + 1))
        elif [[ $w == -- ]]; then
            ended=1
        else
            name=${w#-}
            name=${name#-}
            if [[ ${COMP_WORDS[i+1]} == = ]]; then
                # --flag=value, which bash splits at the '='
                if ((i + 2 >= COMP_CWORD)); then want=$name; fi
                i=$((i + 2))
            elif [[ $valued == *" $name "* ]]; then
                if ((i + 1 == COMP_CWORD)); then want=$name; fi
                i=$((i + 1))
            fi
        fi
        i=$((i + 1))
    done
    [[ $cur == = ]] && cur=

    if [[ -n $want ]]; then
        case "$cmd --$want" in
{{- range $c := .Commands}}{{range .Flags}}{{if .Value}}{{if not .Value.Nothing}}
        {{q (print $c.Name " --" .Name)}}) {{template "bashvalue" .Value}} ;;
{{- end}}{{end}}{{end}}{{end}}
        esac
        return 0
    fi
    if [[ -z $ended && $cur == -* ]]; then
        _muxfer_compgen -W "$flags" -- "$cur"
        return 0
    fi
    if ((more && n >= args)); then
        n=$((args - 1))
    fi
    case "$cmd $n" in
{{- range $c := .Commands}}{{range $i, $a := .Args}}{{if not .Value.Nothing}}
    {{q (print $c.Name " " $i)}}) {{template "bashvalue" .Value}} ;;
{{- end}}{{end}}{{end}}
    esac
    return 0
}

complete -F _muxfer muxfer
{{- define "bashvalue"}}{{if .Files}}_muxfer_files "$cur"{{else if .Dirs}}_muxfer_dirs "$cur"{{else}}_muxfer_compgen -W {{q (words .Choices)}} -- "$cur"{{end}}{{end}}
`

const zshScript = `#compdef muxfer
# zsh completion for {{.Software}}, printed by: muxfer completion zsh
# Install: source <(muxfer completion zsh)   (in ~/.zshrc, after compinit)
#      or: muxfer completion zsh > "${fpath[1]}/_muxfer"

_muxfer() {
    local -a commands
    commands=(
{{- range .Commands}}
        {{q (print .Name ":" .Summary)}}
{{- end}}
    )
    if ((CURRENT == 2)); then
        if [[ $PREFIX == -* ]]; then
            compadd -- --help --version
        else
            _describe -t commands 'muxfer command' commands
        fi
        return
    fi
    local cmd=$words[2]
    shift words
    ((CURRENT--))
    curcontext="${curcontext%:*:*}:muxfer-$cmd:"
    case $cmd in
{{- range .Commands}}
    ({{.Name}})
        _arguments -S :{{range .Flags}} \
            {{zshflag .}}{{end}}{{range $i, $a := .Args}} \
            {{zsharg $i $a}}{{end}}
        ;;
{{- end}}
    esac
}

if [[ $funcstack[1] == _muxfer ]]; then
    _muxfer "$@"
else
    compdef _muxfer muxfer
fi
`

const fishScript = `# fish completion for {{.Software}}, printed by: muxfer completion fish
# Install: muxfer completion fish > ~/.config/fish/completions/muxfer.fish

function __muxfer_command --description 'Tell whether the muxfer command being completed is $argv[1]'
    set -l words (commandline -opc)
    test (count $words) -ge 2; and test "$words[2]" = $argv[1]
end

complete -c muxfer -f
complete -c muxfer -n __fish_use_subcommand -l help -d 'list the commands'
complete -c muxfer -n __fish_use_subcommand -l version -d 'print the version and protocol version'
{{- range .Commands}}
complete -c muxfer -n __fish_use_subcommand -a {{.Name}} -d {{fishq .Summary}}
{{- end}}
{{- range $c := .Commands}}
{{- range .Flags}}
complete -c muxfer -n {{fishq (print "__muxfer_command " $c.Name)}} -l {{.Name}}{{with .Value}}{{template "fishvalue" .}}{{end}} -d {{fishq .Usage}}
{{- end}}
{{- range .Args}}{{if not .Value.Nothing}}
complete -c muxfer -n {{fishq (print "__muxfer_command " $c.Name)}}{{template "fisharg" .Value}}
{{- end}}{{end}}
{{- end}}
{{define "fishvalue"}}{{if .Files}} -r -F{{else if .Dirs}} -x -a '(__fish_complete_directories)'{{else if .Choices}} -x -a {{fishq (words .Choices)}}{{else}} -x{{end}}{{end}}
{{- define "fisharg"}}{{if .Files}} -F{{else if .Dirs}} -a '(__fish_complete_directories)'{{else}} -a {{fishq (words .Choices)}}{{end}}{{end}}`
