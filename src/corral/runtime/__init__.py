"""corral.runtime"""

import corral.runtime.indented  # noqa: F401 - registers the matcher of grammars with a post-lexer
