package termui

import "testing"

func TestFitCutsByColumns(t *testing.T) {
	tests := []struct {
		s    string
		cols int
		want string
	}{
		{"short", 10, "short"},
		{"exactly ten", 11, "exactly ten"},
		{"a bit too long", 8, "a bit t…"},
		{"日本語テキスト", 7, "日本語…"},
		{"e\u0301te\u0301", 3, "e\u0301te\u0301"}, // combining accents take no column
		{"anything", 0, ""},
	}
	for _, tt := range tests {
		if got := Fit(tt.s, tt.cols); got != tt.want {
			t.Errorf("Fit(%q, %d) = %q, want %q", tt.s, tt.cols, got, tt.want)
		}
	}
}

func TestShortenKeepsTheEndOfAPath(t *testing.T) {
	tests := []struct {
		s    string
		cols int
		want string
	}{
		{"a/b.txt", 10, "a/b.txt"},
		{"photos/2024/img_0412.jpg", 16, "…24/img_0412.jpg"},
		{"写真/二〇二四年/画像.jpg", 12, "…年/画像.jpg"}, // wide runes count two
	}
	for _, tt := range tests {
		got := Shorten(tt.s, tt.cols)
		if got != tt.want || Width(got) > tt.cols {
			t.Errorf("Shorten(%q, %d) = %q, want %q", tt.s, tt.cols, got, tt.want)
		}
	}
}
