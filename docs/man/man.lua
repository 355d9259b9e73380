-- SPDX-License-Identifier: MIT
-- pandoc filter turning the Markdown of docs/ into man pages (docs/man/mkman.py runs it).
-- Links between the documents become references to the man pages, or to the file under
-- /usr/share/doc; top-level headings are upper case, as man(7) has them; tables too wide
-- for a terminal (the option tables of --config-reference) become definition lists.

local manpages = {
	["operations.md"] = "prismd(8)",
	["configuration.md"] = "prism-server.yaml(5)",
	["cli.md"] = "prism(1)",
	["agent.md"] = "prism-agent(8)",
}

function Link(el)
	local target = el.target
	if target:match("^%a[%w+.-]*:") then
		return nil -- http:, https:, mailto: stay links
	end
	local file = target:gsub("#.*$", ""):gsub("^%.%./", "")
	if file == "" then
		return el.content -- a link inside the same page
	end
	local page = manpages[file:gsub("^docs/", "")]
	local ref = page or (file:match("%.md$") and "docs/" .. file:gsub("^docs/", "") or file)
	if pandoc.utils.stringify(el.content) == ref or
	   pandoc.utils.stringify(el.content) == file then
		return pandoc.Strong(pandoc.Str(ref))
	end
	local out = el.content
	out:insert(pandoc.Str(" ("))
	out:insert(pandoc.Strong(pandoc.Str(ref)))
	out:insert(pandoc.Str(")"))
	return out
end

function Header(el)
	if el.level == 1 then
		el.content = pandoc.walk_inline(pandoc.Span(el.content), {
			Str = function(s) return pandoc.Str(s.text:upper()) end,
			Code = function(c) return pandoc.Code(c.text:upper()) end,
		}).content
	end
	return el
end

-- A table becomes one definition per row: the first cell is the term, the last (the
-- meaning) its paragraph, the cells between a line of "Header: value" after it.
function Table(el)
	local t = pandoc.utils.to_simple_table(el)
	local items = {}
	for _, row in ipairs(t.rows) do
		local facts = pandoc.List()
		for i = 2, #row - 1 do
			local value = pandoc.utils.stringify(row[i])
			if value ~= "" then
				if #facts > 0 then
					facts:insert(pandoc.Str(";"))
					facts:insert(pandoc.Space())
				end
				facts:insert(pandoc.Emph(pandoc.utils.stringify(t.headers[i])))
				facts:insert(pandoc.Str(":"))
				facts:insert(pandoc.Space())
				facts:extend(pandoc.utils.blocks_to_inlines(row[i]))
			end
		end
		local def = pandoc.List()
		def:extend(row[#row])
		if #facts > 0 then
			def:insert(pandoc.Para(facts))
		end
		local term = pandoc.utils.blocks_to_inlines(row[1])
		table.insert(items, {term, {def}})
	end
	return pandoc.DefinitionList(items)
end

-- Left-aligned, unhyphenated text: option and variable names stay whole, and narrow table
-- cells do not make troff stretch lines it cannot adjust.
function Pandoc(doc)
	doc.blocks:insert(1, pandoc.RawBlock("man", ".nh\n.ad l"))
	return doc
end
